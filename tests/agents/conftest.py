from tests.agents.fake_pynvml import fake_nvml  # noqa: F401  (a fixture for this folder)
