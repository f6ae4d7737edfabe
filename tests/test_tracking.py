import pytest

from mlops import tracking
from mlops.cli import StageError


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("sqlite:///mlflow.db", "sqlite:///mlflow.db"),
        ("sqlite:////abs/mlflow.db", "sqlite:////abs/mlflow.db"),
        ("https://user:s3cret@mlflow.example.com:8443/", "https://mlflow.example.com:8443/"),
        ("http://token@mlflow.example.com", "http://mlflow.example.com"),
        ("https://mlflow.example.com/?token=s3cret", "https://mlflow.example.com/"),
        (
            "https://mlflow.example.com/mlflow?api_key=s3cret&x=1#access_token=s3cret",
            "https://mlflow.example.com/mlflow",
        ),
        ("https://u:p@mlflow.example.com:8443/path?sig=s3cret", "https://mlflow.example.com:8443/path"),
        ("http://user:s3cret@[::1]:5000/", "http://[::1]:5000/"),
        ("https://user@name:s3cret@mlflow.example.com/", "https://mlflow.example.com/"),
        ("sqlite:///mlflow.db?mode=ro", "sqlite:///mlflow.db"),
    ],
)
def test_display_uri_never_shows_credentials(uri, shown):
    assert tracking.display_uri(uri) == shown


def test_run_url_only_for_servers():
    assert tracking.run_url("sqlite:///mlflow.db", "1", "abc") is None
    assert (
        tracking.run_url("https://u:p@mlflow.example.com/", "1", "abc")
        == "https://mlflow.example.com/#/experiments/1/runs/abc"
    )
    assert (
        tracking.run_url("https://mlflow.example.com/?token=t", "1", "abc")
        == "https://mlflow.example.com/#/experiments/1/runs/abc"
    )


def test_tracked_turns_mlflow_errors_into_one_line(workdir):
    from mlflow.exceptions import MlflowException

    with pytest.raises(StageError, match=r"^MLflow \(sqlite:///.*experiment 'x'\): boom$"), tracking.tracked("x"):
        raise MlflowException("boom\nsecond line")


def test_unreachable_server_is_detected_before_any_work(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    with pytest.raises(StageError, match="unreachable"), tracking.tracked("x"):
        pytest.fail("the block must not run")


def test_flatten_params():
    assert tracking._flatten({"a": {"b": 1, "c": {"d": 2}}, "e": 3}) == {"a.b": 1, "a.c.d": 2, "e": 3}


def test_logging_a_run_prints_no_mlflow_info_lines_or_pip_warning(workdir, trained, capfd, monkeypatch):
    """`make run` output: MLflow's INFO lines and its conda.yaml pip warning are noise here."""
    monkeypatch.delenv("MLFLOW_LOGGING_LEVEL", raising=False)
    (workdir / "mlflow.db").unlink()  # a new store: MLflow logs its schema migrations at INFO
    cfg, result, train_frame, _ = trained
    info = tracking.log_training(
        experiment="quiet",
        pipeline=result.pipeline,
        sample=train_frame[list(cfg.data.features)].head(20),
        params={"model": {"family": cfg.model.family}},
        metrics={"train_rmse": 1.0},
        tags={"git_commit": "abc"},
    )
    assert info["run_id"]
    captured = capfd.readouterr()
    output = captured.out + captured.err
    assert "INFO mlflow" not in output
    assert "Failed to resolve installed pip version" not in output


def test_mlflow_logging_level_still_turns_the_info_lines_back_on(monkeypatch):
    import logging

    monkeypatch.setenv("MLFLOW_LOGGING_LEVEL", "INFO")
    logger = logging.getLogger("mlflow")
    monkeypatch.setattr(logger, "level", logging.INFO)
    tracking.quiet_mlflow()
    assert logger.getEffectiveLevel() == logging.INFO


def test_metrics_json_is_flattened_into_names_mlflow_accepts(workdir):
    import mlflow

    from mlops.tracking import metric_names

    document = {
        "rmse": 1.5,
        "baselines": {"trivial": {"rmse": 3.0}},
        "slices": {"region/kind": {"<1H away": {"rows": 10, "rmse": 2.0}, "1,000 to 2,000": {"rows": 5}}},
    }
    names = metric_names(document)
    assert names == {
        "test_rmse": 1.5,
        "test_baseline.trivial.rmse": 3.0,
        "test_slice.region_kind._1H away.rows": 10,
        "test_slice.region_kind._1H away.rmse": 2.0,
        "test_slice.region_kind.1_000 to 2_000.rows": 5,
    }
    mlflow.set_experiment("names")
    with mlflow.start_run() as run:  # the real store takes every one of them
        mlflow.log_metrics(names)
    assert mlflow.get_run(run.info.run_id).data.metrics == names
