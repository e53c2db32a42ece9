"""Settings from the environment: typed readers that fail loudly, and a clean deploy check."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

from casetracker.env import (
    env_bool,
    env_duration,
    env_durations,
    env_int,
    env_list,
    env_retired,
    env_str,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(monkeypatch):
    return monkeypatch


def test_env_bool_reads_the_usual_words(env):
    for word, value in [("1", True), ("true", True), ("Yes", True), ("off", False), ("0", False)]:
        env.setenv("X_FLAG", word)
        assert env_bool("X_FLAG", not value) is value


def test_env_bool_refuses_a_word_it_does_not_know(env):
    env.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG"):
        env_bool("X_FLAG", False)


def test_env_int_refuses_text_and_values_below_the_minimum(env):
    env.setenv("X_NUM", "ten")
    with pytest.raises(ImproperlyConfigured, match="not a whole number"):
        env_int("X_NUM", 1)
    env.setenv("X_NUM", "-1")
    with pytest.raises(ImproperlyConfigured, match="minimum"):
        env_int("X_NUM", 1, minimum=0)
    env.delenv("X_NUM")
    assert env_int("X_NUM", 7) == 7


def test_env_int_refuses_values_above_the_maximum(env):
    env.setenv("X_NUM", "24")
    with pytest.raises(ImproperlyConfigured, match="X_NUM=24 is above the maximum of 23"):
        env_int("X_NUM", 1, minimum=0, maximum=23)
    env.setenv("X_NUM", "23")
    assert env_int("X_NUM", 1, minimum=0, maximum=23) == 23


def test_env_duration_reads_units_and_refuses_others(env):
    env.setenv("X_TIME", "48h")
    assert env_duration("X_TIME", timedelta(0)) == timedelta(hours=48)
    env.setenv("X_TIME", "10d")
    assert env_duration("X_TIME", timedelta(0)) == timedelta(days=10)
    env.setenv("X_TIME", "2 weeks")
    with pytest.raises(ImproperlyConfigured, match="X_TIME"):
        env_duration("X_TIME", timedelta(0))


def test_env_durations_reads_a_list_and_refuses_empty_zero_or_bad_items(env):
    default = (timedelta(hours=2),)
    assert env_durations("X_STEPS", default) == default
    env.setenv("X_STEPS", "2h, 4h,1d")
    assert env_durations("X_STEPS", default) == (
        timedelta(hours=2),
        timedelta(hours=4),
        timedelta(days=1),
    )
    for bad, message in (("2h,,4h", "empty item"), ("2h,0m", "above zero"), ("2h,soon", "X_STEPS")):
        env.setenv("X_STEPS", bad)
        with pytest.raises(ImproperlyConfigured, match=message):
            env_durations("X_STEPS", default)


def test_a_retired_variable_is_refused_naming_its_replacement(env):
    env_retired("X_OLD", use="X_NEW")
    env.setenv("X_OLD", "2h")
    with pytest.raises(ImproperlyConfigured, match="X_OLD is no longer read; set X_NEW"):
        env_retired("X_OLD", use="X_NEW")


def test_the_escalation_schedule_defaults_and_a_bad_one_stops_the_process():
    assert settings.FUND_RULES["ESCALATION_STEPS"] == (
        timedelta(hours=2),
        timedelta(hours=4),
        timedelta(hours=8),
    )
    result = run_manage("check", DEBUG="1", RULE_ESCALATION_STEPS="2h,later")
    assert result.returncode != 0
    assert "RULE_ESCALATION_STEPS='later' is not a duration" in result.stderr
    result = run_manage("check", DEBUG="1", RULE_ESCALATE_AFTER="2h")
    assert result.returncode != 0
    assert "RULE_ESCALATE_AFTER is no longer read; set RULE_ESCALATION_STEPS" in result.stderr


def test_env_list_and_required_strings(env):
    env.setenv("X_HOSTS", "a.example, b.example,")
    assert env_list("X_HOSTS", []) == ["a.example", "b.example"]
    env.delenv("X_REQ", raising=False)
    with pytest.raises(ImproperlyConfigured, match="X_REQ"):
        env_str("X_REQ", required=True)


def test_the_zone_and_languages_are_set():
    assert settings.TIME_ZONE == "Asia/Shanghai"
    assert settings.USE_TZ
    assert settings.LANGUAGE_CODE == "zh-hans"
    assert [code for code, _ in settings.LANGUAGES] == ["zh-hans", "en"]


def test_the_cache_is_the_real_redis():
    assert "RedisCache" in settings.CACHES["default"]["BACKEND"]
    cache.set("casetracker-test-key", "值", 30)
    assert cache.get("casetracker-test-key") == "值"


def run_manage(*args, **env_vars):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "SECURE_SSL_REDIRECT"}
    }
    env.update(env_vars)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_debug_a_missing_secret_key_stops_the_process():
    result = run_manage("check", DEBUG="0")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_a_bad_boolean_stops_the_process():
    result = run_manage("check", DEBUG="perhaps")
    assert result.returncode != 0
    assert "DEBUG='perhaps' is not a boolean" in result.stderr


def test_the_deploy_check_is_clean_with_production_settings():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="0",
        SECRET_KEY="k" * 20 + "-production-secret-" + "z9" * 20,
        ALLOWED_HOSTS="casetracker.example.gov.cn",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "k" * 20 + "-production-secret-" + "z9" * 20,
    "ALLOWED_HOSTS": "casetracker.example.gov.cn",
}


def run_without(*names, **env_vars):
    """``manage.py check`` with production settings and without the named variables."""
    env = {k: v for k, v in os.environ.items() if k not in {*names, "DEBUG", "SECRET_KEY"}}
    env.update(PRODUCTION, **env_vars)
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_refuses_the_filesystem_broker_and_an_in_process_cache():
    result = run_without("REDIS_URL", "CELERY_BROKER_URL")
    assert result.returncode != 0
    assert "set REDIS_URL (or CELERY_BROKER_URL) to a real broker" in result.stderr
    # A broker of its own is not enough: the cache must be shared too.
    result = run_without("REDIS_URL", CELERY_BROKER_URL="redis://127.0.0.1:6379/9")
    assert result.returncode != 0
    assert "the cache holds the throttles and sign-in lock-outs" in result.stderr
    result = run_without("CELERY_BROKER_URL", CELERY_BROKER_URL="memory://")
    assert result.returncode != 0


def test_production_refuses_a_database_other_than_postgresql():
    result = run_without("DATABASE_URL", DATABASE_URL="sqlite:///var/casetracker.sqlite3")
    assert result.returncode != 0
    assert "DATABASE_URL must point at PostgreSQL" in result.stderr


def test_the_demo_runs_on_the_filesystem_broker_with_debug_on():
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "CELERY_BROKER_URL"}}
    env["DEBUG"] = "1"
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_behind_pgbouncer_no_server_side_cursors_or_prepared_statements():
    code = (
        "from django.conf import settings; d = settings.DATABASES['default'];"
        "print(d['DISABLE_SERVER_SIDE_CURSORS'], d['OPTIONS']['prepare_threshold'])"
    )
    result = run_manage("shell", "-c", code, DEBUG="1", DATABASE_PGBOUNCER="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].split() == ["True", "None"]
