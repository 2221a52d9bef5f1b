"""What-if simulator: replay a job trace against a fleet and cloud offers with
the production placement engine, and compare strategies, baselines and a
lower bound on cost, waiting, idle time, interruptions and rule violations.

Pure: no Django, no Celery, no clock; one seed gives one result.

    inputs     trace (JSON Lines) and fleet (JSON) files -> dataclasses
    offers     price snapshot files -> the offer book with capacities
    placing    what a placer answers and may read of the replay
    replay     the discrete-event loop over local GPUs and cloud instances
    instances  cloud instances: launch, reuse, idle, pause, warm, billing
    placers    the engine deciding each job at its arrival
    deferring  the engine with off-peak deferral (kernel/offpeak.py)
    baselines  B1, B2 and the offline lower bound
    rules      the hard rules every placement is audited against
    options    what a replay may do beyond today: pause, warm, off-peak
    demand     the trace's past as a forecast (kernel/forecast.py)
    utilisation  local GPUs' idle open time
    compare    one run over all of them; whatif: today against each option;
    report     their tables and JSON
"""

from aima_tasks.kernel.simulation.compare import Comparison, compare
from aima_tasks.kernel.simulation.inputs import Fleet, InputError, TraceJob, load_fleet, load_trace
from aima_tasks.kernel.simulation.offers import OfferFile, load_offer_files
from aima_tasks.kernel.simulation.outcome import Outcome

__all__ = [
    "Comparison",
    "Fleet",
    "InputError",
    "OfferFile",
    "Outcome",
    "TraceJob",
    "compare",
    "load_fleet",
    "load_offer_files",
    "load_trace",
]
