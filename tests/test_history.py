"""Observation rules: model output measured the way each historical series is."""

import numpy as np
import pytest

from sim.engine.errors import BrainsimError
from sim.studies.history import load_history, observe, timing


def test_rules_follow_model_notes():
    assert timing("intl_students_total_incl_jlang") == "may1"
    assert timing("researchers_dispatched_midlong") == "fiscal_mean"
    assert timing("japanese_abroad_oecd_based") == "mid_year"
    assert timing("status_change_permits_study_to_work") == "calendar_mean"
    with pytest.raises(BrainsimError, match="no observation rule"):
        timing("something_else")


def test_fiscal_flow_is_the_mean_rate_from_april_to_march():
    times = np.arange(2000, 2003 + 1e-9, 1 / 16)
    rate = np.where(times < 2001.25, 100.0, 200.0)[:, None]  # persons/Year
    # FY2000 runs April 2000 to March 2001: all of it at 100
    assert observe(times, rate, 2000, "fiscal_mean")[0] == pytest.approx(100.0)
    # FY2001 is entirely at 200; the calendar year 2001 is a quarter at 100
    assert observe(times, rate, 2001, "fiscal_mean")[0] == pytest.approx(200.0)
    assert observe(times, rate, 2001, "calendar_mean")[0] == pytest.approx(175.0)


def test_stock_on_first_of_may_interpolates_between_steps():
    times = np.arange(2000, 2002 + 1e-9, 1 / 16)
    stock = (1000 * (times - 2000))[:, None]
    assert observe(times, stock, 2001, "may1")[0] == pytest.approx(1000 * (1 + 120 / 365))
    assert observe(times, stock, 2000, "mid_year")[0] == pytest.approx(500)


def test_window_outside_the_run_is_an_error():
    times = np.arange(2000, 2001 + 1e-9, 1 / 16)
    with pytest.raises(BrainsimError, match="does not cover"):
        observe(times, times[:, None], 2000, "fiscal_mean")


def test_load_history_is_strict(tmp_path):
    good = tmp_path / "h.csv"
    good.write_text(
        "series,year,value,unit,source,note,model_variable\n"
        "researchers_dispatched_midlong,2000,7674,persons,MEXT,FY,dispatch rate\n",
        encoding="utf-8",
    )
    rows = load_history(good, ["dispatch rate"])
    assert rows[0].value == 7674.0
    assert rows[0].timing == "fiscal_mean"
    with pytest.raises(BrainsimError, match=r"h.csv:2: model_variable 'dispatch rate'.*did you"):
        load_history(good, ["dispatch rates"])
    bad = tmp_path / "bad.csv"
    bad.write_text("series,year,value\nx,2000,1\n", encoding="utf-8")
    with pytest.raises(BrainsimError, match="columns are"):
        load_history(bad)
