"""A session with one run that logged 200 steps and 3 epochs, shown by the TensorBoard tab with the run's folder as
the current log (tests/test_class_abuse_tensorboard.py: charts on their own axes, no server path shown)."""
from torch.utils.tensorboard import SummaryWriter

from pages.train.tensorboard import session_log_dir, tensorboard_tab

folder = session_log_dir() / "axes-run"
if not folder.exists():
    with SummaryWriter(str(folder)) as writer:
        for step in range(1, 201):
            writer.add_scalar("step/train_loss", 2.0 / step, step)
        for epoch in (1, 2, 3):
            writer.add_scalar("epoch/val_loss", 1.0 / epoch, epoch)
tensorboard_tab(str(folder))
