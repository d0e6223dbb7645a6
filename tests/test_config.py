import logging
from pathlib import Path

import pytest
from callscope.core.config import ConfigError, load_config
from callscope.pipeline.steps import call_settings_hash
from pydantic import BaseModel, Field


def test_default_config_is_embedded():
    settings = load_config()
    assert settings.asr.device == "cpu" and settings.asr.compute_type == "int8"
    assert settings.asr.model.startswith("pkg:")


def test_gpu_config_loads():
    from callscope.core.config import CONFIG_DIR

    settings = load_config(CONFIG_DIR / "gpu.yaml")
    assert settings.asr.device == "cuda" and settings.asr.batch_size > 0


def test_environment_overrides_yaml(monkeypatch):
    monkeypatch.setenv("CALLSCOPE_ASR__BEAM_SIZE", "2")
    monkeypatch.setenv("CALLSCOPE_WAREHOUSE", "/data/wh")
    settings = load_config()
    assert settings.asr.beam_size == 2
    assert str(settings.warehouse) == "/data/wh"


def test_a_commands_option_wins_over_the_environment_and_the_file(tmp_path, monkeypatch):
    path = tmp_path / "night.yaml"
    path.write_text("warehouse: /from/file\nrecordings: /from/file/rec\nflow:\n  retries: 4\n")
    monkeypatch.setenv("CALLSCOPE_WAREHOUSE", "/from/env")
    monkeypatch.setenv("CALLSCOPE_FLOW__RETRY_DELAY_S", "9")
    settings = load_config(path, warehouse="/from/option", recordings=None)
    assert str(settings.warehouse) == "/from/option"
    assert str(settings.recordings) == "/from/file/rec"  # an option left out keeps the file's
    # the environment's nested key merges with the file's section rather than replacing it
    assert settings.flow.retries == 4 and settings.flow.retry_delay_s == 9


def test_bad_value_names_the_setting(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("asr:\n  beam_size: 0\n  vad:\n    threshold: 3\n")
    with pytest.raises(ConfigError, match=r"asr\.beam_size") as info:
        load_config(path)
    assert "asr.vad.threshold" in str(info.value) and str(path) in str(info.value)


def test_unknown_key_and_timezone_rejected(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("timezone: Mars/Olympus\nasr:\n  modle: x\n")
    with pytest.raises(ConfigError, match="unknown time zone") as info:
        load_config(path)
    assert "asr.modle" in str(info.value)


def test_missing_or_malformed_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "broken.yaml"
    bad.write_text("asr: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_settings_hash_tracks_output_shaping_settings_only():
    base = load_config()

    def changed(section: str, **update):
        return base.model_copy(update={section: getattr(base, section).model_copy(update=update)})

    assert call_settings_hash(base) == call_settings_hash(changed("asr", num_workers=3))
    assert call_settings_hash(base) == call_settings_hash(changed("diarization", device="cuda"))
    # the int8 CPU decode's words depend on its thread count: part of the key on a CPU only
    assert call_settings_hash(base) != call_settings_hash(changed("asr", cpu_threads=1))
    on_gpu = changed("asr", device="cuda")
    assert call_settings_hash(on_gpu) == call_settings_hash(
        on_gpu.model_copy(update={"asr": on_gpu.asr.model_copy(update={"cpu_threads": 1})})
    )
    assert call_settings_hash(base) != call_settings_hash(changed("asr", beam_size=1))
    assert call_settings_hash(base) != call_settings_hash(changed("diarization", max_speakers=2))
    assert call_settings_hash(base) != call_settings_hash(changed("roles", agent_phrases=["工号"]))


def test_diarization_bounds_are_checked(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("diarization:\n  min_speakers: 3\n  max_speakers: 2\n")
    with pytest.raises(ConfigError, match="diarization.max_speakers"):
        load_config(bad)


def test_turn_reassignment_margin(tmp_path):
    off = tmp_path / "off.yaml"
    off.write_text("diarization:\n  reassign_margin: null\n")
    assert load_config(off).diarization.reassign_margin is None
    assert call_settings_hash(load_config(off)) != call_settings_hash(load_config())
    bad = tmp_path / "bad.yaml"
    bad.write_text("diarization:\n  reassign_margin: -0.1\n")
    with pytest.raises(ConfigError, match="diarization.reassign_margin"):
        load_config(bad)


def test_folder_settings_are_absolute_against_the_folder_the_command_ran_in(tmp_path, monkeypatch):
    """A worker or part process runs in a folder of its own: paths from the command line,
    the YAML file or the environment reach it absolute."""
    (tmp_path / "conf.yaml").write_text("handoff: out/handoff\nmodel_cache: ~/models\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CALLSCOPE_ROLES__AGENT_VOICEPRINTS", "prints")
    settings = load_config("conf.yaml", recordings="rec", warehouse=Path("wh"))
    assert settings.recordings == tmp_path / "rec"
    assert settings.warehouse == tmp_path / "wh"
    assert settings.handoff_dir == tmp_path / "out" / "handoff"
    assert settings.search_index == tmp_path / "wh" / "search"
    assert settings.roles.agent_voiceprints == tmp_path / "prints"
    assert settings.model_cache == Path.home() / "models"


RENAMED_FLOW = {  # a night's slices were called shards before they were parts
    "shard_calls": ("part_calls", 7),
    "shard_retries": ("part_retries", 4),
    "shard_lost_after_s": ("part_lost_after_s", 30.0),
    "shard_poll_s": ("part_poll_s", 3.0),
}


def test_old_flow_keys_in_yaml_still_load_as_the_new_ones(tmp_path, caplog):
    path = tmp_path / "old.yaml"
    path.write_text("flow:\n" + "".join(f"  {old}: {v}\n" for old, (_, v) in RENAMED_FLOW.items()))
    with caplog.at_level(logging.WARNING, logger="callscope.core.config"):
        flow = load_config(path).flow
    for old, (new, value) in RENAMED_FLOW.items():
        assert getattr(flow, new) == value and not hasattr(flow, old)
        [said] = [r.getMessage() for r in caplog.records if f"flow.{old} " in r.getMessage()]
        assert f"is now flow.{new} (CALLSCOPE_FLOW__{new.upper()})" in said


def test_old_flow_keys_in_the_environment_still_override_the_yaml(tmp_path, monkeypatch):
    path = tmp_path / "new.yaml"
    path.write_text("flow:\n" + "".join(f"  {new}: {v}\n" for new, v in RENAMED_FLOW.values()))
    for old in RENAMED_FLOW:
        monkeypatch.setenv(f"CALLSCOPE_FLOW__{old.upper()}", "9")
    flow = load_config(path).flow  # the environment wins over the file, whatever the names
    assert [getattr(flow, new) for new, _ in RENAMED_FLOW.values()] == [9, 9, 9.0, 9.0]
    monkeypatch.setenv("CALLSCOPE_FLOW__PART_CALLS", "5")  # both names: the new one wins
    assert load_config(path).flow.part_calls == 5
    monkeypatch.setenv("CALLSCOPE_FLOW__SHARD_RETRIES", "11")  # still checked, by its new name
    with pytest.raises(ConfigError, match=r"flow\.part_retries"):
        load_config(path)


def test_a_new_flow_key_wins_over_its_old_name_in_the_same_file(tmp_path):
    path = tmp_path / "both.yaml"
    path.write_text("flow:\n  shard_calls: 7\n  part_calls: 8\n")
    assert load_config(path).flow.part_calls == 8


def _undescribed(model: type[BaseModel], path: tuple[str, ...] = ()) -> list[str]:
    """Dotted names of the settings below `model` (nested sections walked) that have no
    description."""
    missing = []
    for name, field in model.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            missing += _undescribed(kind, (*path, name))
        elif not (field.description or "").strip():
            missing.append(".".join((*path, name)))
    return missing


def test_every_setting_says_what_it_does():
    """The configuration reference shows each key's description: an operator reads there what
    a setting does, its unit and when to change it."""
    from callscope.core.config import Settings

    class Inner(BaseModel):
        bare: int = 0

    class Outer(BaseModel):
        inner: Inner = Field(default_factory=Inner)
        said: int = Field(0, description="what it does")

    assert _undescribed(Outer) == ["inner.bare"]  # nested sections are walked
    missing = _undescribed(Settings)
    assert not missing, f"settings without a description= in core/config.py: {missing}"
