"""The targets every scenario is judged against, and how each output is measured.

J-MIRAI (教育未来創造会議 第二次提言, 2023-04-27; ``../shared/MODEL_NOTES.md``)
sets 2033 targets for students abroad (with its segments), international
students and domestic employment; the seed document's own benchmark for
researchers is the return of mid/long dispatch to its FY2000 level. Each
output is observed as the data behind its target observe the world:
international students as the 1 May count, the others as fiscal-year
(April-March) means of a rate a year.
"""

from dataclasses import dataclass

PROJECTION_START = 2024  # the first year a target can be newly met (after the data end)

OUTPUT_TIMING = {
    "international students in japan": "may1",
    "japanese students abroad per year": "fiscal_mean",
    "long term students abroad per year": "fiscal_mean",
    "university short and mid term participants per year": "fiscal_mean",
    "high school students abroad per year": "fiscal_mean",
    "domestic employment rate of international graduates": "fiscal_mean",
    "domestic employment rate jmirai basis": "fiscal_mean",
    "researchers dispatched per year": "fiscal_mean",
    "foreign researchers accepted per year": "fiscal_mean",
    "net researcher flow": "fiscal_mean",
    "public programme budget": "fiscal_mean",
}


@dataclass(frozen=True)
class Target:
    """A level an output should reach (``at_least``) or stay under (``at_most``) in ``year``."""

    variable: str
    year: int
    value: float
    sense: str  # "at_least" or "at_most"
    label: str = ""
    source: str = ""

    def met(self, value):
        """Whether ``value`` (a number or an array) meets the target."""
        return value >= self.value if self.sense == "at_least" else value <= self.value

    def describe(self) -> str:
        """Return the target as a short phrase, e.g. ``>= 400,000 in 2033``."""
        sign = ">=" if self.sense == "at_least" else "<="
        number = f"{self.value:,.0f}" if abs(self.value) >= 100 else f"{self.value:g}"
        return f"{self.variable} {sign} {number} in {self.year}"


_JMIRAI = "J-MIRAI (教育未来創造会議 第二次提言, 2023-04-27), MODEL_NOTES.md"

# Defined once; every scenario is judged against these (a scenario file may add more).
TARGETS = (
    Target(
        "japanese students abroad per year",
        2033,
        500_000,
        "at_least",
        "Japanese students abroad, all segments",
        _JMIRAI,
    ),
    Target(
        "long term students abroad per year",
        2033,
        150_000,
        "at_least",
        "— university long-term and degree-seeking",
        _JMIRAI,
    ),
    Target(
        "university short and mid term participants per year",
        2033,
        230_000,
        "at_least",
        "— university short and mid-term",
        _JMIRAI,
    ),
    Target(
        "high school students abroad per year",
        2033,
        120_000,
        "at_least",
        "— high school (trips 110,000 + stays of 3 months or more 10,000)",
        _JMIRAI,
    ),
    Target(
        "international students in japan",
        2033,
        400_000,
        "at_least",
        "International students in Japan (1 May)",
        _JMIRAI,
    ),
    Target(
        "domestic employment rate jmirai basis",
        2033,
        0.6,
        "at_least",
        "Domestic employment of international graduates (J-MIRAI basis: employed in "
        "Japan / graduates not continuing study in Japan)",
        _JMIRAI,
    ),
    Target(
        "researchers dispatched per year",
        2033,
        7_694,
        "at_least",
        "Researchers dispatched 30+ days back to the FY2000 level",
        "seed document (MEXT 2020-09-03): 7,694 in FY2000; a press report says 7,674",
    ),
)
