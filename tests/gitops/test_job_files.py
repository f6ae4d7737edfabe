"""Step outputs and the job summary: appended, one line per output, nothing outside Actions."""

import pytest

from mlops.gitops.job_files import write_outputs, write_summary


def test_outputs_and_summary_are_appended(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "output"))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary"))
    write_outputs(image="ghcr.io/o/r@sha256:1", commit="abc")
    write_outputs(deployed="true")
    write_summary("- one")
    write_summary("| a |\n| b |\n")
    assert (tmp_path / "output").read_text() == "image=ghcr.io/o/r@sha256:1\ncommit=abc\ndeployed=true\n"
    assert (tmp_path / "summary").read_text() == "- one\n| a |\n| b |\n"


def test_a_value_cannot_smuggle_another_output(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "output"))
    with pytest.raises(ValueError, match="step output 'commit' must be one line"):
        write_outputs(image="fine", commit="abc\ndeployed=true")
    assert not (tmp_path / "output").exists()


def test_nothing_is_written_outside_github_actions(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_outputs(a="b")
    write_summary("text")
    assert list(tmp_path.iterdir()) == []
