"""``brainsim brief``: the bilingual briefing, and the check that its headline is current."""

import sys
from pathlib import Path

from sim.cli.common import add_out, wrote


def register(sub) -> None:
    """Add the brief command to the subcommand parsers ``sub``."""
    p = sub.add_parser(
        "brief",
        help="the briefing: every figure in Japanese and English, and the PDF packs",
        description="Run the shipped model and scenarios and draw the briefing figures "
        "(PNG 300 dpi and SVG) in Japanese and/or English, the PDF briefing pack per "
        "language and figures/manifest.json. --check only says whether the committed "
        "headline figures are stale against the model, scenarios or ensemble.",
        epilog="example: brainsim brief --lang both --out figures",
    )
    p.add_argument(
        "--lang",
        choices=("ja", "en", "both"),
        default="both",
        help="language of the figures and PDF (default: both)",
    )
    add_out(p, required=False, default="figures", what="the folder for the figures and PDFs")
    p.add_argument("--headline", help="also copy the headline figures here (docs/headline)")
    p.add_argument("--check", action="store_true", help="exit 2 if docs/headline is stale")
    p.add_argument("--root", default=".", help="the project folder (default: here)")
    p.set_defaults(func=brief)


def brief(args) -> int:
    """Draw the briefing, or with --check say whether the headline figures are stale."""
    from sim.reports.briefing import run_brief, stale

    root = Path(args.root).resolve()
    headline = Path(args.headline) if args.headline else root / "docs" / "headline"
    if args.check:
        from sim.engine import load_model
        from sim.reports.calibration import stale_calibration

        notes = stale_calibration(root, load_model(root / "model" / "brain_circulation.mdl"))
        changed = stale(root, headline)
        if changed:
            notes.append(
                f"the headline figures in {headline} are stale against "
                f"{', '.join(changed)}; run brainsim brief --headline {headline}"
            )
        for note in notes:
            sys.stderr.write(f"brainsim: error: {note}\n")
        if notes:
            return 2
        sys.stdout.write(f"{headline}: up to date\n")
        return 0
    import time

    from sim.reports.briefdata import STEPS
    from sim.reports.figures import FIGURES

    langs = ("en", "ja") if args.lang == "both" else (args.lang,)
    # the computing steps, then every figure in every language
    step = {"n": 0, "total": STEPS + len(FIGURES) * len(langs), "start": time.monotonic()}

    def progress(text):
        step["n"] += 1
        spent = time.monotonic() - step["start"]
        done = step["n"] - 1  # the step just begun has not been done
        left = f", about {spent * (step['total'] - done) / done:.0f} s left" if done else ""
        sys.stderr.write(f"brief [{step['n']}/{step['total']}]: {text} ({spent:.0f} s{left})\n")
        sys.stderr.flush()

    text = run_brief(
        root,
        Path(args.out),
        langs,
        Path(args.headline) if args.headline else None,
        progress,
        force=args.force,
    )
    sys.stdout.write(text)
    wrote(args.out)
    return 0
