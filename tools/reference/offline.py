"""Imported first by the reference scripts that run Hugging Face models, before torch and
transformers read their settings: one thread (the timings and the float sums are then
reproducible) and no network (the models come from local folders only).

    import offline  # noqa: F401, I001  (before torch)
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

torch.set_num_threads(1)
