"""The GPUs NVML sees on this node: an empty list where there is no driver; nothing is invented."""

from __future__ import annotations


def list_gpus() -> list[dict]:
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:
        return []
    try:
        found = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            name = pynvml.nvmlDeviceGetName(handle)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            found.append({"index": index, "name": name if isinstance(name, str) else name.decode(),
                          "memory_bytes": int(memory.total)})
        return found
    finally:
        pynvml.nvmlShutdown()
