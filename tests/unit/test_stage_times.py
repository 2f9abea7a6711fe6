"""benchmarks/stage_times.py attributes DVC's wall time to the stage that was running."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("stage_times", ROOT / "benchmarks/stage_times.py")
stage_times = importlib.util.module_from_spec(spec)
spec.loader.exec_module(stage_times)


def test_time_between_running_lines_goes_to_the_running_stage(capsys):
    ticks = iter([0.0, 1.0, 4.0, 4.5, 10.0])   # start, stage a, stage b@2, stage b@3... end
    lines = [
        "Stage 'base_model' didn't change, skipping\n",
        "Running stage 'prepare_lm':\n",          # t = 1
        "> python stages/prepare_lm.py\n",
        "Running stage 'train_qisa@csa-0':\n",   # t = 4
        "Running stage 'report':\n",             # t = 4.5
        "Updating lock file 'dvc.lock'\n",
    ]                                              # end t = 10
    rows, total = stage_times.time_stages(lines, clock=lambda: next(ticks))
    assert rows == [("prepare_lm", 3.0), ("train_qisa@csa-0", 0.5), ("report", 5.5)]
    assert total == 10.0
    assert "Running stage 'report'" in capsys.readouterr().out   # DVC's output is passed through
    text = stage_times.table(rows, total, top=2)
    assert text.splitlines()[2].startswith("report") and "train_qisa" not in text
    assert "total (3 stages ran)" in text
