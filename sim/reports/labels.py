"""The label catalogue of the briefing: every word a figure shows, in English and Japanese.

Figures ask for labels by key (:func:`label`); model variables and scenario
names are translated here too, so that one catalogue serves both languages.
Numbers are never written into labels: templates take them as fields, formatted
by :func:`fmt` the same way in both languages.
"""

import math

LABELS = {
    # figure titles
    "fig_history": {"en": "The calibrated model against history", "ja": "較正済みモデルと実績値"},
    "fig_targets": {
        "en": "J-MIRAI target outputs by scenario (median; band: 5–95%)",
        "ja": "シナリオ別のJ-MIRAI目標指標（中央値、帯：5〜95%）",
    },
    "fig_probability": {
        "en": "Probability of meeting each target in its year",
        "ja": "各目標を目標年に達成する確率",
    },
    "fig_uncertainty": {
        "en": "Where the uncertainty in each target comes from: calibration apart from "
        "the grade {grades} effect sizes",
        "ja": "各目標の不確実性の出所：較正と根拠グレード{grades}の効果量",
    },
    "uncertainty_caption": {
        "en": "Bars: 5–95% of the value in the target year, as a share of the target "
        "(log scale); tick: median. Calibration only: the {runs:,} ensemble members with "
        "every effect size at its .mdl value. Effect sizes only: the {effects} effect "
        "sizes drawn from their priors, the calibrated parameters at the best fit.",
        "ja": "棒：目標年の値の5〜95%（目標に対する比、対数目盛）、縦線：中央値。"
        "較正のみ：アンサンブル{runs:,}通り、効果量は.mdlの値に固定。"
        "効果量のみ：効果量{effects}個を事前分布から抽出、較正パラメータは最良適合値に固定。",
    },
    # the explorer (brainsim explore): the page's words, from the same catalogue
    "ui_title": {
        "en": "brainsim explorer: Japan's international brain circulation",
        "ja": "brainsim エクスプローラー：国際頭脳循環",
    },
    "ui_lang": {"en": "日本語", "ja": "English"},
    "ui_start_from": {"en": "Start from", "ja": "開始シナリオ"},
    "ui_reset": {"en": "Reset to baseline", "ja": "ベースラインに戻す"},
    "ui_load_file": {"en": "Load a scenario file…", "ja": "シナリオファイルを読み込む…"},
    "ui_undo": {"en": "Undo", "ja": "元に戻す"},
    "ui_redo": {"en": "Redo", "ja": "やり直す"},
    "ui_yaml": {"en": "Scenario (YAML)", "ja": "シナリオ（YAML）"},
    "ui_csv": {"en": "Shown data (CSV)", "ja": "表示データ（CSV）"},
    "ui_levers": {
        "en": "Policy levers, each with the budgets that set it (億円 a year)",
        "ja": "政策レバーとそれを動かす事業予算（億円／年）",
    },
    "ui_budgets": {
        "en": "Other programme budgets (億円 a year)",
        "ja": "その他の事業予算（億円／年）",
    },
    "ui_from": {"en": "from", "ja": "開始年"},
    "ui_ramp": {"en": "ramp (years)", "ja": "移行年数"},
    "ui_acts_on": {"en": "sets the lever", "ja": "対応するレバー"},
    "ui_baseline": {"en": "Baseline", "ja": "ベースライン"},
    "ui_current": {"en": "This scenario", "ja": "このシナリオ"},
    "ui_history": {"en": "History", "ja": "実績"},
    "ui_target": {"en": "Target", "ja": "目標"},
    "ui_band": {"en": "5–95%", "ja": "5〜95%"},
    "ui_targets": {
        "en": "Probability of meeting each J-MIRAI target",
        "ja": "J-MIRAI目標の達成確率",
    },
    "ui_col_target": {"en": "Target", "ja": "目標"},
    "ui_col_year": {"en": "Year", "ja": "年"},
    "ui_col_median": {"en": "Median (5–95%)", "ja": "中央値（5〜95%）"},
    "ui_col_base_median": {"en": "Baseline median", "ja": "ベースライン中央値"},
    "ui_col_base_prob": {"en": "Baseline probability", "ja": "ベースラインの確率"},
    "ui_col_prob": {"en": "Probability", "ja": "確率"},
    "ui_cost": {
        "en": "Public cost above the baseline, FY{start}–FY{end}: {p50} 億円 "
        "(5–95%: {p05} to {p95})",
        "ja": "ベースラインに対する公費の増分（{start}〜{end}年度）：{p50}億円"
        "（5〜95%：{p05}〜{p95}）",
    },
    "ui_no_cost": {
        "en": "Public cost as in the baseline: no programme budget is moved (a lever moved "
        "on its own carries no cost in the model; move a budget to price a change)",
        "ja": "公費はベースラインと同じ：事業予算の変更なし（レバーだけを動かしても"
        "モデル上の費用は生じない。費用を見るには予算を動かす）",
    },
    "ui_detail": {"en": "Any model variable", "ja": "任意のモデル変数"},
    "ui_show": {"en": "Show", "ja": "表示"},
    "ui_running": {"en": "Running…", "ja": "計算中…"},
    "ui_caption": {
        "en": "Median and 5–95% band over {runs} calibrated ensemble members; "
        "model sha256 {version}; scenario: {scenario}",
        "ja": "較正済みアンサンブル{runs}通りの中央値と5〜95%の帯；モデル sha256 {version}；"
        "シナリオ：{scenario}",
    },
    "ui_lowest": {"en": "lowest", "ja": "最低"},
    "ui_low": {"en": "low", "ja": "低"},
    "ui_status_quo": {"en": "status quo", "ja": "現状"},
    "ui_high": {"en": "high", "ja": "高"},
    "ui_highest": {"en": "highest", "ja": "最高"},
    "ui_error": {"en": "Not run", "ja": "実行できません"},
    "ui_edited": {"en": " (edited)", "ja": "（変更あり）"},
    "src_combined": {"en": "All runs", "ja": "全体"},
    "src_calibration": {"en": "Calibration only", "ja": "較正のみ"},
    "src_effects": {
        "en": "Effect sizes only (grade {grades})",
        "ja": "効果量のみ（グレード{grades}）",
    },
    "src_combined_short": {"en": "All", "ja": "全体"},
    "src_calibration_short": {"en": "Calibration", "ja": "較正"},
    "src_effects_short": {"en": "Effects", "ja": "効果量"},
    "relative_to_target": {
        "en": "Value in the target year, as a share of the target",
        "ja": "目標年の値（目標に対する比）",
    },
    "prob_by_source": {
        "en": "Probability of meeting the target",
        "ja": "目標の達成確率",
    },
    "median": {"en": "Median", "ja": "中央値"},
    "fig_tornado": {
        "en": "What moves each 2033 target output: one-at-a-time swings",
        "ja": "2033年の目標指標を動かす要因（一要因ずつの変化幅）",
    },
    "fig_sobol": {
        "en": "Share of 2033 uncertainty explained (Sobol total index)",
        "ja": "2033年の不確実性への寄与（Sobol全効果指数）",
    },
    "fig_sobol_time": {"en": "Sobol total index over time", "ja": "Sobol全効果指数の推移"},
    "fig_goal": {
        "en": "Probability of 500,000 students abroad in 2033 against scholarship coverage",
        "ja": "奨学金の支援率と2033年の海外留学50万人の達成確率",
    },
    "fig_researchers": {
        "en": "Researchers dispatched abroad for 30+ days",
        "ja": "30日超の研究者海外派遣者数",
    },
    "fig_diagram": {
        "en": "Stock-and-flow diagram of the model",
        "ja": "モデルのストック・フロー図",
    },
    "fig_costs": {
        "en": "What each programme's yen buys: public yen a year per additional outcome in 2033",
        "ja": "事業別の費用対効果：2033年に成果を1単位増やすための公費（年額）",
    },
    "costs_caption": {
        "en": "Each programme's budget raised by {change} 億円 a year (1 億円 = ¥100 million) "
        "from FY{start} over {ramp} years against {scenario}, alone, in {runs:,} runs paired "
        "with the scenario's own (the same ensemble members and effect-size draws). Dot: the "
        "median of the extra FY2033 budget over the gain in the outcome in 2033; line: 5–95% "
        'over the runs with a gain. The unit costs are documented (model/README.md, "Budget '
        'layer"); where only a lower bound is documented, the yen figure is a lower bound too. '
        "Tag: the evidence grade of the effect size the gain rests on most.",
        "ja": "各事業の予算を{scenario}に対して単独で年{change}億円増額（{start}年度から{ramp}年"
        "かけて）し、シナリオ自身と対にした{runs:,}通りの試行（同じアンサンブルと効果量の抽出）"
        "で比較。点：2033年度の追加予算÷2033年の成果の増分の中央値、線：成果が増えた試行の"
        "5〜95%。事業単価は文書化された値（model/README.md「Budget layer」）。単価が下限"
        "しか分からない事業は、この金額も下限。タグ：成果の増分が最も依拠する効果量の根拠グレード。",
    },
    "per_person_axis": {
        "en": "Public yen a year per additional person in 2033 (log scale)",
        "ja": "2033年に1人増やすための公費（年額、対数目盛）",
    },
    "per_point_axis": {
        "en": "Public yen a year per additional percentage point in 2033 (log scale)",
        "ja": "2033年に1ポイント上げるための公費（年額、対数目盛）",
    },
    "cost_capped": {
        "en": "+{change} 億円 (top of its range)",
        "ja": "+{change}億円（上限）",
    },
    "cost_gain_share": {
        "en": "gain in {share} of runs",
        "ja": "成果増は試行の{share}",
    },
    "cost_no_gain": {"en": "no gain in any run", "ja": "どの試行でも成果増なし"},
    "cost_lower_bound": {"en": "unit cost a lower bound", "ja": "単価は下限"},
    "grade_tag": {
        "en": "evidence grade of the effect size",
        "ja": "効果量の根拠グレード",
    },
    "cost_whisker": {"en": "5–95% of runs with a gain", "ja": "成果増の試行の5〜95%"},
    "fig_budget_curve": {
        "en": "Probability of the main targets against one programme's budget",
        "ja": "主な目標の達成確率と事業予算",
    },
    "curve_caption": {
        "en": "Probability: the share of the {runs:,} runs of {scenario} (the same ensemble "
        "members and effect-size draws at every budget) that meet the target, with one "
        "programme's budget moved from FY{start} over {ramp} years and all else as in the "
        "scenario; {points} budgets across the programme's range in the model. For each "
        "target, the programmes acting on it with the lowest yen per additional outcome "
        "(the cost chart).",
        "ja": "確率：{scenario}の{runs:,}通りの試行（どの予算でも同じアンサンブルと効果量の抽出）"
        "のうち目標を満たす割合。1事業の予算のみ{start}年度から{ramp}年かけて変え、他は"
        "シナリオのまま。予算はモデル上の範囲から{points}点。各目標について、成果1単位当たり"
        "の公費が最も小さい事業（費用対効果の図）。",
    },
    "curve_flat": {"en": "0% at every budget in the range", "ja": "範囲内のどの予算でも0%"},
    "curve_flat_caption": {
        "en": "{output}: 0% at every budget; no programme alone reaches the target within its "
        "range.",
        "ja": "{output}：どの予算でも0%。どの事業も単独ではその範囲内で目標に届かない。",
    },
    "curve_refused": {
        "en": "{scenario} is not shown: it already sets the levers these programmes act on.",
        "ja": "{scenario}は示さない：これらの事業が働きかける施策を既に設定しているため。",
    },
    "curve_top": {"en": "{prob} at {budget} 億円", "ja": "{budget}億円で{prob}"},
    "today_budget": {"en": "Today's budget", "ja": "現在の予算"},
    "budget_oku": {
        "en": "Programme budget, 億円 a year (1 億円 = ¥100 million)",
        "ja": "事業予算（億円／年）",
    },
    # axes and legends
    "year": {"en": "Year", "ja": "年"},
    "fiscal_year": {"en": "Fiscal year", "ja": "年度"},
    "persons": {"en": "persons", "ja": "人"},
    "persons_per_year": {"en": "persons a year", "ja": "人／年"},
    "share": {"en": "share", "ja": "割合"},
    "probability": {"en": "Probability", "ja": "確率"},
    "observed": {"en": "Observed", "ja": "実績値"},
    "model": {"en": "Calibrated model", "ja": "較正済みモデル"},
    "band": {"en": "Ensemble 5–95%", "ja": "アンサンブル5〜95%"},
    "target": {"en": "Target", "ja": "目標"},
    "fy2000_level": {"en": "FY2000 level (7,694)", "ja": "2000年度の水準（7,694人）"},
    "old_basis": {"en": "Observed, postdocs not counted", "ja": "実績（ポスドク含まず）"},
    "survey_basis": {
        "en": "Observed, postdocs counted (FY2009–)",
        "ja": "実績（ポスドク含む、2009年度〜）",
    },
    "dispatch_basis": {
        "en": "Model lines: postdocs not counted (the FY2000 basis)",
        "ja": "モデル：ポスドクを含まない（2000年度と同じ基準）",
    },
    "swing": {"en": "Change in the 2033 value (low → high)", "ja": "2033年値の変化（下限→上限）"},
    "total_index": {"en": "Sobol total index (ST)", "ja": "Sobol全効果指数（ST）"},
    "coverage": {
        "en": "Scholarship coverage (share of students abroad supported)",
        "ja": "奨学金の支援率（留学者に占める支援対象の割合）",
    },
    "required": {"en": "Required probability", "ja": "必要な確率"},
    "scenario": {"en": "Scenario", "ja": "シナリオ"},
    "goal_short": {"en": "≥ {value} ({year})", "ja": "{value}以上（{year}年）"},
    # footer
    "footer": {
        "en": "brainsim {version} · model {model} (sha256 {sha}) · {scenarios} · {date} · "
        "data: {sources}",
        "ja": "brainsim {version}・モデル {model}（sha256 {sha}）・{scenarios}・{date}・"
        "データ：{sources}",
    },
    "sources": {
        "en": "JASSO, MEXT, OECD (model/history.csv); J-MIRAI 2023",
        "ja": "JASSO・文部科学省・OECD（model/history.csv）；J-MIRAI 2023",
    },
    "all_scenarios": {"en": "all scenarios", "ja": "全シナリオ"},
    # briefing pack
    "pack_title": {
        "en": "Japan's brain circulation: scenarios against the J-MIRAI 2033 targets",
        "ja": "日本の国際頭脳循環：J-MIRAI 2033年目標に対するシナリオ分析",
    },
    "findings": {"en": "Key findings", "ja": "主な結果"},
    "target_table": {
        "en": "Target table: median (5–95%) in the target year and probability",
        "ja": "目標表：目標年の中央値（5〜95%）と達成確率",
    },
    "finding_baseline": {
        "en": "Under current policy, {output} reaches {p50} in {year} (5–95%: {p05}–{p95}); "
        "the chance of meeting the target of {goal} is {prob}.",
        "ja": "現行政策では、{year}年の{output}は{p50}（5〜95%：{p05}〜{p95}）。"
        "目標{goal}の達成確率は{prob}。",
    },
    "finding_package": {
        "en": "All J-MIRAI measures together raise the chance for {output} from {base} to "
        "{package}.",
        "ja": "J-MIRAIの全施策を同時に行うと、{output}の達成確率は{base}から{package}に上がる。",
    },
    "finding_package_lower": {
        "en": "All J-MIRAI measures together lower the chance for {output} from {base} to "
        "{package}.",
        "ja": "J-MIRAIの全施策を同時に行うと、{output}の達成確率は{base}から{package}に下がる。",
    },
    "finding_package_same": {
        "en": "All J-MIRAI measures together leave the chance for {output} at {base}.",
        "ja": "J-MIRAIの全施策を同時に行っても、{output}の達成確率は{base}のまま。",
    },
    "finding_yen": {
        "en": "A weaker yen lowers Japanese students abroad in 2033 to {weak} (baseline {base}); "
        "a stronger yen raises it to {strong}.",
        "ja": "円安では2033年の日本人海外留学者は{weak}（ベースライン{base}）に減り、"
        "円高では{strong}に増える。",
    },
    "finding_goal": {
        "en": "Scholarship coverage alone: {answer}",
        "ja": "奨学金の支援率のみでは：{answer}",
    },
    "goal_unreachable": {
        "en": "500,000 students abroad in 2033 with 80% probability cannot be reached; even "
        "at full coverage the probability is {prob}.",
        "ja": "2033年の海外留学50万人を80%の確率で達成することはできない。支援率を最大に"
        "しても確率は{prob}にとどまる。",
    },
    "fig_origins": {
        "en": "International students in Japan by origin, and the dependence on the largest",
        "ja": "出身国・地域別の外国人留学生数と最大出身国への依存度",
    },
    "origins_stack": {
        "en": "{scenario}: the median total split by each origin's median",
        "ja": "{scenario}：合計の中央値を出身国・地域別の中央値の比で分割",
    },
    "total_band": {"en": "Total: 5–95%", "ja": "合計：5〜95%"},
    "total_observed": {"en": "Total, observed", "ja": "合計（実績）"},
    "largest_share": {
        "en": "Share of the largest origin (median; band: 5–95%)",
        "ja": "最大出身国のシェア（中央値、帯：5〜95%）",
    },
    "china_share_observed": {
        "en": "China's share, observed (JASSO, language institutes included)",
        "ja": "中国のシェア（実績、JASSO、日本語教育機関を含む）",
    },
    "fig_destinations": {
        "en": "Japanese students abroad by destination, and Japan's rank among origins "
        "of international students in the United States",
        "ja": "留学先別の日本人留学者数と米国における日本の出身国順位",
    },
    "fig_partners": {
        "en": "Researchers dispatched and accepted for over 30 days, by partner region",
        "ja": "30日を超える研究者の派遣・受入れ（相手地域別）",
    },
    "dispatched_stack": {
        "en": "{scenario}: dispatched (postdocs counted), split by region",
        "ja": "{scenario}：派遣（ポスドク等を含む）の地域別内訳",
    },
    "accepted_stack": {
        "en": "{scenario}: accepted, split by region",
        "ja": "{scenario}：受入れの地域別内訳",
    },
    "partner_shares": {
        "en": "Regional shares: FY2024 (MEXT), assumed in every year; they move only "
        "with joint research with a region",
        "ja": "地域別の構成比：2024年度（文部科学省）を全年に仮定。地域別の共同研究でのみ変化",
    },
    "europe_by_scenario": {
        "en": "With Europe (incl. NIS), by scenario\n(median; band: baseline 5–95%)",
        "ja": "欧州（NIS諸国を含む）との往来、シナリオ別\n（中央値、帯：ベースラインの5〜95%）",
    },
    "to_europe": {"en": "Dispatched to Europe", "ja": "欧州への派遣"},
    "from_europe": {"en": "Accepted from Europe", "ja": "欧州からの受入れ"},
    "destinations_stack": {
        "en": "{scenario}: long-term and degree students abroad, the median total split "
        "by each destination's median",
        "ja": "{scenario}：長期・学位留学者の合計の中央値を留学先別の中央値の比で分割",
    },
    "us_rank": {
        "en": "Japan's rank in the US (median; band: 5–95%)",
        "ja": "米国における日本の順位（中央値、帯：5〜95%）",
    },
    "us_rank_observed": {
        "en": "Rank from Open Doors counts",
        "ja": "Open Doorsの人数による順位",
    },
    "rank": {"en": "Rank (1 = most students)", "ja": "順位（1＝最多）"},
    "goal_reached": {
        "en": "500,000 students abroad in 2033 with 80% probability needs coverage of at "
        "least {level}.",
        "ja": "2033年の海外留学50万人を80%の確率で達成するには支援率{level}以上が必要。",
    },
}

# model variables, as the briefing names them
VARIABLES = {
    "japanese students abroad per year": {
        "en": "Japanese students abroad a year",
        "ja": "日本人の海外留学者数（年間）",
    },
    "long term students abroad per year": {
        "en": "— long-term and degree-seeking",
        "ja": "—長期・学位取得型",
    },
    "university short and mid term participants per year": {
        "en": "— university short and mid-term",
        "ja": "—大学の短期・中期",
    },
    "high school students abroad per year": {"en": "— high school", "ja": "—高校生"},
    "international students in japan": {
        "en": "International students in Japan (1 May)",
        "ja": "外国人留学生数（5月1日）",
    },
    "domestic employment rate jmirai basis": {
        "en": "Domestic employment of international graduates (J-MIRAI basis)",
        "ja": "外国人留学生の国内就職率（J-MIRAI基準）",
    },
    "domestic employment rate of international graduates": {
        "en": "Domestic employment of international graduates (JASSO basis)",
        "ja": "外国人留学生の国内就職率（JASSO基準）",
    },
    "researchers dispatched per year": {
        "en": "Researchers dispatched 30+ days a year",
        "ja": "研究者の中・長期海外派遣者数（年間）",
    },
    "foreign researchers accepted per year": {
        "en": "Foreign researchers accepted a year",
        "ja": "外国人研究者の受入れ数（年間）",
    },
    "net researcher flow": {"en": "Net researcher flow", "ja": "研究者の純流入"},
    "public programme budget": {
        "en": "Public budget of the modelled programmes",
        "ja": "モデル化した事業の予算額",
    },
    "net researcher migration": {
        "en": "Net researcher migration (OECD basis)",
        "ja": "研究者の純移動（OECD基準）",
    },
}

# the programmes each lever of the model stands for (named in the .mdl and the seed document)
PROGRAMMES = {
    "scholarship coverage": {
        "en": "Study-abroad scholarships (Study Abroad Support, TOBITATE! Study Abroad JAPAN)",
        "ja": "海外留学支援制度・トビタテ！留学JAPAN",
    },
    "researcher fellowships": {
        "en": "Overseas Research Fellowships; Overseas Challenge Program for Young Researchers",
        "ja": "海外特別研究員・若手研究者海外挑戦プログラム",
    },
    "degree study abroad awards": {
        "en": "Study Abroad Support for degree-seeking students",
        "ja": "海外留学支援制度（学位取得型）",
    },
    "career credit for time abroad": {
        "en": "Credit for time abroad in hiring and KAKENHI review",
        "ja": "採用・科研費審査での海外経験の評価（国際・若手支援強化枠）",
    },
    "joint research funding index": {
        "en": "International joint-research funds (ASPIRE, NEXUS, SICORP, e-ASIA, Horizon Europe)",
        "ja": "国際共同研究費（ASPIRE・NEXUS・SICORP・e-ASIA・ホライズン・ヨーロッパ）",
    },
    "jmirai inbound recruitment uplift": {
        "en": "Inbound scholarships and recruitment (the J-MIRAI 400,000 plan)",
        "ja": "留学生の受入れ・奨学金（J-MIRAIの40万人計画）",
    },
    "employment support": {
        "en": "Employment support for international graduates",
        "ja": "留学生就職促進プログラム",
    },
    "university international capacity uplift": {
        "en": "University international capacity (successor to Top Global University)",
        "ja": "大学の国際化体制（スーパーグローバル大学創成支援の後継）",
    },
    "research environment index": {
        "en": "WPI-style research environments beyond the WPI centres",
        "ja": "WPI拠点で整備した研究環境の横展開",
    },
    "sakura science scale": {
        "en": "Sakura Science short visits",
        "ja": "さくらサイエンスプログラム",
    },
    "research security screening loss": {
        "en": "Research-security screening",
        "ja": "研究セキュリティ審査",
    },
    "high school study abroad rate": {
        "en": "High-school study abroad (short trips and stays of 3 months or more)",
        "ja": "高校生の海外留学（短期・3か月以上）",
    },
}

# the public programme each budget lever of the model funds (budgets:, in 億円 a year)
BUDGET_PROGRAMMES = {
    "agreement study abroad support": {
        "en": "Study Abroad Support, agreement-based exchange (JASSO)",
        "ja": "海外留学支援制度（協定派遣型）",
    },
    "degree study abroad support": {
        "en": "Study Abroad Support, degree-seeking (JASSO)",
        "ja": "海外留学支援制度（学位取得型）",
    },
    "tobitate university": {
        "en": "TOBITATE! Study Abroad JAPAN, university course",
        "ja": "トビタテ！留学JAPAN（大学生等コース）",
    },
    "tobitate high school": {
        "en": "TOBITATE! Study Abroad JAPAN, high-school course",
        "ja": "トビタテ！留学JAPAN（高校生コース）",
    },
    "kokuhi scholarship": {
        "en": "Japanese Government (MEXT) Scholarship for international students",
        "ja": "国費外国人留学生制度",
    },
    "study incentive scholarship": {
        "en": "Monbukagakusho Honors Scholarship for privately financed students",
        "ja": "外国人留学生学習奨励費",
    },
    "employment promotion programme": {
        "en": "Programme for the employment of international students",
        "ja": "留学生就職促進プログラム",
    },
    "jsps overseas fellowship": {
        "en": "JSPS Overseas Research Fellowships",
        "ja": "日本学術振興会 海外特別研究員",
    },
    "young researcher overseas challenge": {
        "en": "JSPS Overseas Challenge Program for Young Researchers",
        "ja": "若手研究者海外挑戦プログラム",
    },
    "international joint research funds": {
        "en": "International joint-research funds (Kokusai Sendo Kenkyu, ASPIRE, NEXUS)",
        "ja": "国際共同研究費（国際先導研究・ASPIRE・NEXUS）",
    },
}

# origins of students, destinations of Japanese students, researchers' partner regions
PLACES = {
    "china": {"en": "China", "ja": "中国"},
    "vietnam": {"en": "Vietnam", "ja": "ベトナム"},
    "nepal": {"en": "Nepal", "ja": "ネパール"},
    "korea": {"en": "Korea", "ja": "韓国"},
    "taiwan": {"en": "Taiwan", "ja": "台湾"},
    "indonesia": {"en": "Indonesia", "ja": "インドネシア"},
    "myanmar": {"en": "Myanmar", "ja": "ミャンマー"},
    "sri lanka": {"en": "Sri Lanka", "ja": "スリランカ"},
    "other asia": {"en": "Other Asia", "ja": "その他アジア"},
    "rest of world": {"en": "Rest of the world", "ja": "その他の地域"},
    "in usa": {"en": "United States", "ja": "米国"},
    "in australia": {"en": "Australia", "ja": "豪州"},
    "in canada": {"en": "Canada", "ja": "カナダ"},
    "in uk": {"en": "UK", "ja": "英国"},
    "in korea": {"en": "Korea", "ja": "韓国"},
    "in china": {"en": "China", "ja": "中国"},
    "in taiwan": {"en": "Taiwan", "ja": "台湾"},
    "in europe": {"en": "Continental Europe", "ja": "欧州大陸"},
    "elsewhere": {"en": "Elsewhere", "ja": "その他"},
    "north american partners": {"en": "North America", "ja": "北米"},
    "european partners": {"en": "Europe (incl. NIS)", "ja": "欧州（NIS諸国を含む）"},
    "asian partners": {"en": "Asia", "ja": "アジア"},
    "oceanian partners": {"en": "Oceania", "ja": "オセアニア"},
    "other partners": {"en": "Africa, Latin America, Middle East", "ja": "アフリカ・中南米・中東"},
}

SCENARIOS = {
    "baseline": {"en": "Baseline", "ja": "ベースライン"},
    "expanded-scholarships": {"en": "Expanded scholarships", "ja": "留学奨学金の拡充"},
    "researcher-fellowships": {"en": "Researcher fellowships", "ja": "海外特別研究員の拡充"},
    "joint-research-funds": {"en": "Joint research funds", "ja": "国際共同研究費の倍増"},
    "employment-support": {"en": "Employment support", "ja": "国内就職支援の強化"},
    "university-capacity": {"en": "University capacity", "ja": "大学の受入れ体制拡充"},
    "research-environment": {"en": "Research environment", "ja": "WPI型研究環境"},
    "weak-yen": {"en": "Weak yen", "ja": "円安"},
    "strong-yen": {"en": "Strong yen", "ja": "円高"},
    "border-shock": {"en": "Border shock 2030", "ja": "2030年国境閉鎖"},
    "jmirai-package": {"en": "J-MIRAI package", "ja": "J-MIRAIパッケージ"},
    "jmirai-package-yen": {
        "en": "J-MIRAI package in yen (budget ranges)",
        "ja": "J-MIRAIパッケージ（予算額・範囲内）",
    },
    "china-demand-fall": {"en": "Fewer Chinese students", "ja": "中国の留学需要減"},
    "origin-screening": {
        "en": "Screening: Vietnam, Nepal",
        "ja": "審査厳格化（ベトナム・ネパール）",
    },
    "asean-india-push": {"en": "ASEAN and India push", "ja": "ASEAN・インド重視"},
    "competitor-caps": {"en": "Caps: Canada, Australia, UK", "ja": "加・豪・英の受入れ抑制"},
    "weaker-dollar": {"en": "Weaker dollar", "ja": "ドル安"},
    "horizon-europe": {"en": "Horizon Europe association", "ja": "ホライズン・ヨーロッパ準参加"},
}


def label(key: str, lang: str, **fields) -> str:
    """Return the text for ``key`` in ``lang`` (``en`` or ``ja``), with ``fields`` filled in."""
    return LABELS[key][lang].format(**fields)


def name(text: str, lang: str) -> str:
    """Return a variable, scenario, budget programme or place name in ``lang``; others are kept."""
    for table in (VARIABLES, SCENARIOS, BUDGET_PROGRAMMES, PLACES):
        if text in table:
            return table[text][lang]
    return text


def fmt(value: float, lang: str) -> str:
    """Format a number as a briefing shows it: thousands separated, ratios as percentages."""
    if not math.isfinite(value):
        return "—"
    if abs(value) < 1.5:
        return f"{value:.0%}"
    return f"{value:,.0f}"


def wrap(text: str, width: int, lang: str) -> list:
    """Split ``text`` into lines of at most ``width`` characters, never inside a number.

    English breaks at spaces; Japanese, which has none, anywhere but inside a
    run of digits, separators and percent signs.
    """
    import textwrap

    if lang != "ja":
        return textwrap.wrap(text, width, break_on_hyphens=False)
    numeric = set("0123456789,.%〜–-")
    lines = []
    while len(text) > width:
        cut = width
        while cut > width // 2 and text[cut - 1] in numeric and text[cut] in numeric:
            cut -= 1
        lines.append(text[:cut])
        text = text[cut:]
    return [*lines, text] if text else lines
