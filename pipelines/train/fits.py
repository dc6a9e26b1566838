"""Ways to fit one model for some epochs: in this process, or data-parallel with Elephas on Spark.

A fit is `run(model, setup, steps, masks, settings, state) -> Progress or None`: the training's
progress (pipelines.train.resume: top-1 on the validation split after each epoch, the seconds, the
resumes), resumed from and saved to `state` as it goes; or None where the fit cannot say (Elephas
trains on Spark's workers, whole epochs at a time, and starts its ticket again when it is stopped);
`masking` names the masking method it needs (None: any). Lottery tickets choose one with `FitSettings` (`harness lth --executor elephas` runs
every ticket with the Elephas fit, one after another).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from pipelines import backend
from pipelines.backend import BACKENDS
from pipelines.errors import UserInputError
from pipelines.registry import Registry
from pipelines.settings import setting
from pipelines.train import elephas


@dataclass(frozen=True)
class FitSettings:
    name: str = "keras"
    partitions: int = 2  # elephas: Spark partitions
    spark_master: str | None = setting(None, "elephas: a Spark cluster's master URL (default: local mode).")
    quiet: bool = True

    def validate(self, backend_name: str | None = None) -> None:
        """`backend_name`: the backend the fit would run on (None: this process's, pipelines.backend)."""
        fit = FITS.entry(self.name).value
        if self.partitions < 1:
            raise UserInputError("--workers must be at least 1")
        backend_name = backend_name or backend.active()
        if backend_name not in fit.backends:
            raise UserInputError(f"--executor {self.name} runs on {' or '.join(fit.backends)} only, not --backend "
                                 f"{backend_name}: choose serial, multiprocessing or mpi")


@dataclass(frozen=True)
class Fit:
    run: Callable
    masking: str | None = None
    keeps_model: bool = True  # trains the model as compiled, so a worker may keep it for the next fit
    backends: tuple[str, ...] = tuple(BACKENDS.names())  # the Keras backends it runs on
    whole_epochs: bool = False  # trains whole epochs only (a rewind point in steps would not fit)
    resumable: bool = True  # continues a stopped training from its saved state


def keras_fit(model, setup, steps: int, masks, settings: FitSettings, state=None):
    return setup.fit_steps(model, steps, validate=True, state=state)


FITS: Registry[Fit] = Registry("fit")
FITS.add("keras", Fit(keras_fit), "in this process, on the setup's placement and pipeline")
FITS.add("elephas", Fit(elephas.elephas_fit, elephas.MASKING, keeps_model=False,  # recompiles its model
                        backends=("tensorflow",), whole_epochs=True, resumable=False),  # Elephas ships tf.keras models to Spark workers
         "data-parallel with Elephas over Spark partitions (the mask held by a Keras constraint)")
