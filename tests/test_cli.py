"""The fmnist-gluon command: summary output, --json, and clean error exits."""
import json
import os
import subprocess
import sys

import pytest

from fmnist_gluon import cli, parse_spec, summary

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(capsys, *argv):
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_summary_of_a_preset(capsys):
    status, out, err = run(capsys, "summary", "baseline")
    assert status == 0 and err == ""
    assert out == str(summary("baseline", print_fn=None)) + "\n"
    assert "64x6x6" in out and "2304" in out


def test_summary_of_shorthand_and_file_with_options(capsys, tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text("- conv16k3p1\n- relu\n- gap\n")
    for spec in (str(path), "conv16k3p1-relu-gap"):
        status, out, _ = run(capsys, "summary", spec, "--input-shape", "3,32,32", "--classes", "5")
        assert status == 0
        expected = summary(spec, input_shape=(3, 32, 32), classes=5, print_fn=None)
        assert out == str(expected) + "\n"
        assert "16x32x32" in out and "input 3x32x32" in out


def test_json_prints_the_canonical_spec(capsys):
    status, out, _ = run(capsys, "summary", "conv8k3-relu-gap", "--json", "--classes", "4")
    assert status == 0
    assert json.loads(out) == parse_spec("conv8k3-relu-gap", classes=4)
    assert json.loads(out)[-1] == {"type": "dense", "units": 4}


@pytest.mark.parametrize("spec, fragment", [
    ("conv64k3-rleu", "did you mean 'relu'?"),
    ("missing.yaml", "not found"),
    ("conv8k30", "kernel 30 is larger than its input 28x28"),
])
def test_errors_are_one_clean_line(capsys, spec, fragment):
    status, out, err = run(capsys, "summary", spec)
    assert status == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1
    assert fragment in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [["summary", "baseline", "--input-shape", "1,28"],
                                  ["summary", "baseline", "--classes", "0"], [], ["nope"]])
def test_bad_usage_exits_2(capsys, argv):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_commands_table_shape():
    for name, entry in cli.COMMANDS.items():
        configure, run_ = entry
        assert callable(configure) and callable(run_) and run_.__doc__


def test_console_process_error_exit(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"type": "conv", "channels": 8, "kernel": 3, "strides": 2}]')
    proc = subprocess.run([sys.executable, "-m", "fmnist_gluon.cli", "summary", str(bad)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: layer 0 (conv), field 'strides'")
    assert "did you mean 'stride'?" in proc.stderr and "Traceback" not in proc.stderr
