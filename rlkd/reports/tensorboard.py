"""TensorBoard event files of a run's per-step scalars, so `tensorboard --logdir OUT/tensorboard` shows its curves.

`rlkd train` writes one row per PPO iteration as it goes; `distill` and `apply` write their
per-epoch rows once the run is over. Tags start with the split or part they measure (`val/`,
`test/`, `train/`, `curriculum/`, `episodes/`) so that no curve can be read as another split's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

TENSORBOARD_DIR = "tensorboard"  # inside each command's --out folder

Scalars = dict[str, Optional[float]]  # tag -> value at one step; None: not measured at that step


def open_writer(folder: Path):
    """A tensorboardX writer on `folder`, after removing event files an earlier run left there.

    One folder holds one run: a rerun into the same --out would otherwise add a second curve over
    the same steps, and TensorBoard would draw the two as one zig-zag line.
    """
    from tensorboardX import SummaryWriter

    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("events.out.tfevents.*"):
        stale.unlink()
    return SummaryWriter(str(folder))


def write_scalars(writer, rows: list[Scalars], first_step: int = 1) -> None:
    """Row i at step `first_step + i`; None values are skipped; flushed, so a killed run keeps what it wrote."""
    for step, row in enumerate(rows, first_step):
        for tag, value in row.items():
            if value is not None:
                writer.add_scalar(tag, float(value), step)
    writer.flush()


def epoch_scalars(*, val_acc: Optional[float], train_loss: Optional[float], subset_size: Optional[int],
                  difficulty: Optional[float], fraction: Optional[float],
                  subset_difficulty_mean: Optional[float]) -> Scalars:
    """The tags of one distillation epoch: the same names for `distill` and `apply`, so their runs overlay."""
    return {"val/acc": val_acc, "train/loss": train_loss, "train/subset_size": subset_size,
            "curriculum/difficulty_target": difficulty, "curriculum/fraction": fraction,
            "curriculum/subset_difficulty_mean": subset_difficulty_mean}
