"""docs/results.md's evidence tables and README's one-line headline, generated from the committed evaluation
summaries (docs/evidence/*.json, each the `summary.json` of one `rlkd evaluate`): the docs quote nothing no
artefact holds. `scripts/write_results.py` writes them; a test regenerates them and fails on a difference.

The headline claims that the policy pays only where policy − the best baseline at equal tuning budget has an
interval above 0 on test, outside the A/A interval, over at least three PPO runs; otherwise it says so.

Pretrained policies are judged zero-shot, leaving one task family out (docs/evidence/zero_shot/<family>/<task>.json,
each the summary of one `rlkd evaluate` on a task of the left-out family whose policy rows never trained on it,
written by benchmarks/zero_shot.py): they pay on a task where policy − KD with the config's recipe is at least
+1.0 on test with its interval above 0 and above the A/A interval, over at least three PPO runs. Whether they
save the tuning is judged against KD after `rlkd recipe` on the same task (docs/evidence/zero_shot_recipe/<family>/
<task>.json, written by benchmarks/zero_shot_recipe.py): non-inferior where policy − it has an interval whose lower
bound is above -0.5 and whose half-width is at most 0.75, on test.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from statistics import mean

EVIDENCE_DIR = "docs/evidence"
RESULTS_FILE = "docs/results.md"
README_FILE = "README.md"
EQUAL_BUDGET = "kd, tuned at the RL's budget"
MIN_PPO_RUNS = 3
ZERO_SHOT_DIR = "docs/evidence/zero_shot"
OWN_RECIPE = "kd (all data)"  # KD with the config's own recipe: zero tuning
MIN_GAIN = 1.0  # what a pretrained policy must add over it on test (issue 20)
REPLAY = "open-loop replay (policy's mean action)"
ZERO_SHOT_ROWS = (OWN_RECIPE, "kd (all data), independent order stream", REPLAY, "labels")
ZERO_SHOT_RECIPE_DIR = "docs/evidence/zero_shot_recipe"
# The zero-shot policies' baselines measured by a benchmark: where their evidence lives, the script that wrote it,
# and what the table calls them
_SEARCHED = ("(recipe keys, then a constant or linear label weight, temperature and share of data; chosen on val on "
             "the choice seeds)")
ZERO_SHOT_BASELINES = {
    "fixed": {"folder": "docs/evidence/zero_shot_fixed", "tag": "zero-shot-fixed", "script": "zero_shot_fixed.py",
              "title": "against the best fixed schedule over the training tasks",
              "what": "the one schedule a Tune search chose as the best mean over the training tasks of the first "
                      f"PPO run, spending that run's RL budget {_SEARCHED}", "clause": "the best single fixed schedule "
                      "over its training tasks (tuned at the RL's budget)"},
    "tuned": {"folder": "docs/evidence/zero_shot_tuned", "tag": "zero-shot-tuned", "script": "zero_shot_fixed.py",
              "title": "against KD tuned on the task at a per-task RL's budget",
              "what": "the schedule a Tune search chose on the left-out task itself, spending what a PPO run on that "
                      f"task would cost (the search's budget in the table) {_SEARCHED}", "clause": "KD tuned on the "
                      "task itself at a per-task RL's budget"},
    "own": {"folder": "docs/evidence/zero_shot_own", "tag": "zero-shot-own", "script": "zero_shot_own.py",
            "title": "against policies trained on the task itself",
            "what": "PPO runs on the left-out task alone with the config's PPO settings (mean over them; both sides' "
                    "PPO runs resampled in the interval; their RL bill in the table)",
            "clause": "policies trained on the task itself"},
}
NONINFERIOR_LOW, NONINFERIOR_HALF_WIDTH = -0.5, 0.75  # issue 20: the policy saves the tuning


def load_summaries(root: Path) -> dict[str, dict]:
    """Every committed summary by its file's stem, in name order."""
    return {path.stem: json.loads(path.read_text()) for path in sorted((root / EVIDENCE_DIR).glob("*.json"))}


def _num(value) -> str:
    return "n/a" if value is None else f"{value:+.2f}"


def _interval(d: dict) -> str:
    """'mean [low, high]'; a bound summary.json holds as null (one seed: no interval) reads n/a."""
    return f"{_num(d['mean'])} [{_num(d['ci_low'])}, {_num(d['ci_high'])}]"


def _ci(interval: dict) -> str:
    """'mean [low, high] wins/n'."""
    return f"{_interval(interval)} {interval['wins']}/{interval['n']}"


def load_zero_shot(root: Path, folder: str = ZERO_SHOT_DIR) -> dict[str, dict[str, dict]]:
    """{left-out family: {task: summary}}, in name order, from `folder`'s <family>/<task>.json."""
    return {family.name: {p.stem: json.loads(p.read_text()) for p in sorted(family.glob("*.json"))}
            for family in sorted((root / folder).glob("*")) if family.is_dir()}


def _cell(value) -> str:
    return "unknown" if value is None else f"{value:.0f}"


def _compared(summary: dict) -> dict:
    """The pooled interval over PPO runs where the summary has one, else the single run's."""
    return summary.get("pooled_policy_minus_control") or summary["policy_minus_control"]


def claim(summary: dict) -> bool:
    """Whether this evaluation supports "the policy pays": see the module docstring."""
    versus = (summary.get("pooled_policy_minus_control") or {}).get(EQUAL_BUDGET)  # pooled over PPO runs only
    floor = summary.get("noise_floor")
    if versus is None or floor is None or summary["ppo_runs"] < MIN_PPO_RUNS:
        return False
    low, floor_high = versus["test"]["ci_low"], floor["test"]["ci_high"]
    return low is not None and floor_high is not None and low > 0 and low > floor_high


def regime_section(name: str, s: dict) -> list[str]:
    seeds = f"{s['seeds'][0]}–{s['seeds'][-1]}"
    (key, bounds), = s["seed_range"].items()
    lines = [f"#### {name}", "",
             f"`{s['command']}` at commit {s['commit']}; {len(s['seeds'])} seeds ({seeds}, {key} {bounds}); "
             f"{s['ppo_runs']} PPO run(s); env.budget {s['budget']:g}, label noise {s['label_noise']:g}; "
             f"{s['epoch']} epoch; not varied: {s['limits']}.", "",
             "| method | test | val | tuning (KD epochs) | chosen on |", "|---|---|---|---|---|"]
    lines += [f"| {row} | {r['test']:.2f} | {r['val']:.2f} | {_cell(r['tuning']['kd_epochs'])} | "
              f"{r['tuning']['chosen_on']} |" for row, r in s["rows"].items()]
    floor = s.get("noise_floor")
    if floor:
        lines += ["", f"A/A floor (kd (all data) − its independent-order twin): test {_ci(floor['test'])}, "
                      f"val {_ci(floor['val'])}."]
    lines += ["", "| policy − control | test, 95% CI, wins | vs the A/A floor | val, 95% CI, wins |",
              "|---|---|---|---|"]
    lines += [f"| {row} | {_ci(v['test'])} | {v['test_vs_noise']} | {_ci(v['val'])} |"
              for row, v in _compared(s).items()]
    r = s["recommendation"]
    lines += ["", f"Recommended (by {r['chosen_on']}): **{r['row']}**; − {r['versus']} (the config's own KD): "
                  f"test {_ci(r['test'])}, val {_ci(r['val'])}.", ""]
    return lines


def evidence_block(summaries: dict[str, dict]) -> str:
    lines = ["Generated by `python scripts/write_results.py` from docs/evidence/*.json (the `summary.json` of each "
             "`rlkd evaluate` below); do not edit by hand. Every figure is last-epoch accuracy in percent; test is "
             "held out, val chose every tuned setting and the policy's reward read it (optimistic for the policy).",
             ""]
    for name, summary in summaries.items():
        lines += regime_section(name, summary)
    return "\n".join(lines).rstrip() + "\n"


def headline(summaries: dict[str, dict]) -> str:
    paying = [name for name, s in summaries.items() if claim(s)]
    if paying:
        parts = []
        for name in paying:
            v = _compared(summaries[name])[EQUAL_BUDGET]
            parts.append(f"{name}: policy − {EQUAL_BUDGET} test {_ci(v['test'])}, val {_ci(v['val'])}")
        return "Where the learned curriculum pays (outside the A/A floor, ≥ 3 PPO runs): " + "; ".join(parts) + "."
    measured = ", ".join(f"{name} ({s['ppo_runs']} PPO run{'s' if s['ppo_runs'] != 1 else ''})"
                         for name, s in summaries.items())
    return (f"No regime measured so far shows the learned curriculum beating KD tuned at the RL's budget outside "
            f"the noise floor over ≥ 3 PPO runs (measured: {measured or 'none'}; "
            f"[docs/results.md](docs/results.md#evidence-generated-from-artefacts)).")


def zero_shot_claim(summary: dict) -> bool:
    """Whether the zero-shot policy pays on this task: see the module docstring."""
    versus = (summary.get("pooled_policy_minus_control") or {}).get(OWN_RECIPE)
    floor = summary.get("noise_floor")
    if versus is None or floor is None or summary["ppo_runs"] < MIN_PPO_RUNS:
        return False
    low, floor_high = versus["test"]["ci_low"], floor["test"]["ci_high"]
    return (versus["test"]["mean"] >= MIN_GAIN and low is not None and floor_high is not None
            and low > 0 and low > floor_high)


def _zero_shot_cell(summary: dict, compared: dict, row: str, split: str) -> str:
    """The pooled interval; a row made per PPO run (the open-loop replay of its own mean action) has the first
    run's only, marked so."""
    if row in compared:
        return _ci(compared[row][split])
    single = summary["policy_minus_control"].get(row)
    return "—" if single is None else f"{_ci(single[split])} (PPO run 1)"


def zero_shot_block(families: dict[str, dict[str, dict]]) -> str:
    lines = ["Generated by `python scripts/write_results.py` from docs/evidence/zero_shot/<left-out family>/*.json "
             "(benchmarks/zero_shot.py); do not edit by hand. Policy = the policies trained on the other families, "
             "never on this one; last-epoch accuracy in percent, paired on the same seeds; test held out.", ""]
    if not families:
        return "\n".join(lines + ["No leave-one-family-out evaluation has been committed yet."]) + "\n"
    for family, tasks in families.items():
        first = next(iter(tasks.values()))
        (key, bounds), = first["seed_range"].items()
        lines += [f"#### Left out: {family}", "",
                  f"`{first['command']}` at commit {first['commit']}; {first['ppo_runs']} PPO run(s); "
                  f"{len(first['seeds'])} seeds per task ({key} {bounds}); {first['epoch']} epoch.", "",
                  "| left-out task | split | policy | " + " | ".join(f"policy − {r}" for r in ZERO_SHOT_ROWS)
                  + " | pays |", "|---|---|---|" + "---|" * len(ZERO_SHOT_ROWS) + "---|"]
        for task, s in tasks.items():
            compared = _compared(s)
            for split in ("test", "val"):
                cells = [_zero_shot_cell(s, compared, r, split) for r in ZERO_SHOT_ROWS]
                verdict = ("yes" if zero_shot_claim(s) else "no") if split == "test" else ""
                lines.append(f"| {task} | {split} | {s['rows']['policy'][split]:.2f} | " + " | ".join(cells)
                             + f" | {verdict} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def noninferior(result: dict) -> bool:
    """Whether the zero-shot policy, with no tuning, is non-inferior to KD after `rlkd recipe` on test."""
    d = result["policy_minus_kd_after_recipe"]["test"]
    return (d["ci_low"] is not None and d["ci_low"] > NONINFERIOR_LOW
            and (d["ci_high"] - d["ci_low"]) / 2 <= NONINFERIOR_HALF_WIDTH)


def _family_heading(family: str, title: str, first: dict) -> list[str]:
    """A left-out family's heading and the command, commit and seeds its comparison ran with."""
    return [f"#### Left out: {family}, {title}", "",
            f"`{first['command']}` at commit {first['commit']}; {first['ppo_runs']} PPO run(s); "
            f"{len(first['seeds'])} seeds per task; {first['epoch']} epoch.", ""]


def zero_shot_recipe_block(families: dict[str, dict[str, dict]]) -> str:
    lines = ["Generated by `python scripts/write_results.py` from docs/evidence/zero_shot_recipe/<left-out family>/"
             "*.json (benchmarks/zero_shot_recipe.py); do not edit by hand. Policy = the zero-shot policies above "
             "(mean over the PPO runs), acting around the config's own recipe (no tuning); KD after recipe = KD "
             "with the recipe `rlkd recipe` chose on val for that task (its budget: the trials and target-run "
             "equivalents in the table); "
             "last-epoch accuracy in percent, paired on the same evaluation seeds, pooled over the PPO runs; "
             f"non-inferior: lower bound > {NONINFERIOR_LOW:g} with half-width ≤ {NONINFERIOR_HALF_WIDTH:g} on test.",
             ""]
    if not families:
        return "\n".join(lines + ["No comparison with KD after `rlkd recipe` has been committed yet."]) + "\n"
    for family, tasks in families.items():
        first = next(iter(tasks.values()))
        lines += [*_family_heading(family, "against KD after `rlkd recipe`", first),
                  "| left-out task | split | policy | kd after recipe | policy − kd after recipe | kd after recipe − "
                  "kd (config's recipe) | recipe: trials, target runs | non-inferior |",
                  "|---|---|---|---|---|---|---|---|"]
        for task, r in tasks.items():
            for split in ("test", "val"):
                verdict = ("yes" if noninferior(r) else "no") if split == "test" else ""
                lines.append(f"| {task} | {split} | {r['policy'][split]:.2f} | {r['kd_after_recipe'][split]:.2f} | "
                             f"{_interval(r['policy_minus_kd_after_recipe'][split])} | "
                             f"{_interval(r['kd_after_recipe_minus_kd'][split])} | {r['recipe']['trials']}, "
                             f"{r['recipe']['target_runs']:.1f} | {verdict} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def policy_ahead(result: dict) -> bool:
    """Whether the zero-shot policy beats one of ZERO_SHOT_BASELINES on test: the interval above 0."""
    low = result["policy_minus_baseline"]["test"]["ci_low"]
    return low is not None and low > 0


def _ppo_runs_cost(result: dict) -> str:
    runs = result["own_ppo_runs"]
    return (f"{len(runs)} × {mean(r['episodes'] for r in runs):.0f} episodes, "
            f"{mean(r['target_run_equivalents'] for r in runs):.1f} target runs, "
            f"{mean(r['seconds'] for r in runs) / 60:.0f} min each")


# each baseline's cost column in its table: (header, the cell of a task's result)
_COST_COLUMNS = {
    "fixed": ("search (above)", lambda r: ""),
    "tuned": ("search: trials, KD epochs", lambda r: f"{r['search']['trials']}, {r['search']['spent_kd_epochs']:.0f}"),
    "own": ("RL: PPO runs, each", _ppo_runs_cost),
}


def baseline_block(kind: str, families: dict[str, dict[str, dict]]) -> str:
    """docs/results.md's tables of the zero-shot policies against one of ZERO_SHOT_BASELINES."""
    about = ZERO_SHOT_BASELINES[kind]
    lines = [f"Generated by `python scripts/write_results.py` from {about['folder']}/<left-out family>/*.json "
             f"(benchmarks/{about['script']}); do not edit by hand. Policy = the zero-shot policies above (mean over "
             f"the PPO runs); {kind} = {about['what']}; open-loop replay = the policy's "
             "own mean action on the task, PPO run 1 (zero_shot.py's row); last-epoch accuracy in percent, paired "
             f"on the same evaluation seeds, pooled over the PPO runs; ahead: policy − {kind} with the interval "
             "above 0 on test.", ""]
    if not families:
        return "\n".join(lines + ["Not measured yet."]) + "\n"
    for family, tasks in families.items():
        first = next(iter(tasks.values()))
        lines += _family_heading(family, about["title"], first)
        if kind == "fixed":
            search, chosen = first["search"], first["search"]["chosen"]
            lines += [f"The search: {search['trials']} trials over {len(search['tasks'])} training tasks, "
                      f"{search['spent_kd_epochs']:.0f} of {search['budget_kd_epochs']:.0f} KD epochs, "
                      f"{search['seconds'] / 60:.0f} min; chose {json.dumps(chosen['recipe'])} "
                      f"{json.dumps(chosen['schedule'])} (search val {chosen['val_acc_last_epoch']:.2f}; the "
                      f"config's recipe {search['points_val_acc_last_epoch'].get('constant', float('nan')):.2f}).",
                      ""]
        lines += [f"| left-out task | split | policy | {kind} | policy − {kind} | {kind} − kd (config's recipe) | "
                  f"policy − open-loop replay (PPO run 1) | {_COST_COLUMNS[kind][0]} | ahead |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for task, r in tasks.items():
            for split in ("test", "val"):
                verdict = ("yes" if policy_ahead(r) else "no") if split == "test" else ""
                search = _COST_COLUMNS[kind][1](r) if split == "test" else ""
                lines.append(f"| {task} | {split} | {r['policy'][split]:.2f} | {r['baseline'][split]:.2f} | "
                             f"{_interval(r['policy_minus_baseline'][split])} | "
                             f"{_interval(r['baseline_minus_kd'][split])} | "
                             f"{_interval(r['policy_minus_replay'][split])} | {search} | {verdict} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def zero_shot_headline(families: dict[str, dict[str, dict]], recipe: dict[str, dict[str, dict]],
                       baselines: dict[str, dict[str, dict[str, dict]]]) -> str:
    tasks = {f"{family}/{task}": s for family, ts in families.items() for task, s in ts.items()}
    if not tasks:
        return "No pretrained policy has been judged zero-shot yet."
    paying = [name for name, s in tasks.items() if zero_shot_claim(s)]
    worse = [name for name, s in tasks.items()
             if (_compared(s).get(OWN_RECIPE, {}).get("test", {}).get("ci_high") or 0.0) < 0]
    feedback = [name for name, s in tasks.items()
                if (s["policy_minus_control"].get(REPLAY, {}).get("test", {}).get("ci_low") or 0.0) > 0]
    runs = min(s["ppo_runs"] for s in tasks.values())
    return (f"Pretrained policy, zero-shot on a left-out family ({', '.join(families)} left out; {len(tasks)} tasks, "
            f"{runs} PPO run{'s' if runs != 1 else ''}): it beats KD with the config's own recipe by ≥ {MIN_GAIN:g} "
            f"on test outside the noise floor on {len(paying)} of {len(tasks)} tasks"
            + (f" ({', '.join(paying)})" if paying else "")
            + f", is below it on {len(worse)}" + (f" ({', '.join(worse)})" if worse else "")
            + f", and beats its own open-loop replay (what feedback adds, PPO run 1) on {len(feedback)}"
            + _recipe_clause(recipe) + "".join(_baseline_clause(k, baselines.get(k, {})) for k in ZERO_SHOT_BASELINES)
            + " ([docs/results.md](docs/results.md#pretrained-policies)).")


def _recipe_clause(recipe: dict[str, dict[str, dict]]) -> str:
    """What the headline says of the policy against KD after `rlkd recipe`: measured, or not yet."""
    results = {f"{family}/{task}": r for family, ts in recipe.items() for task, r in ts.items()}
    if not results:
        return "; against KD after `rlkd recipe` it has not been measured yet"
    below = [name for name, r in results.items() if r["policy_minus_kd_after_recipe"]["test"]["ci_high"] < 0]
    most = max(r["recipe"]["target_runs"] for r in results.values())
    return (f"; against KD after `rlkd recipe` on the same task (≤ {most:.0f} target runs of tuning each) it is "
            f"non-inferior on {sum(noninferior(r) for r in results.values())} of "
            f"{len(results)} and below it on {len(below)}")


def _baseline_clause(kind: str, families: dict[str, dict[str, dict]]) -> str:
    """What the headline says of the policy against one of ZERO_SHOT_BASELINES: measured, or not yet."""
    results = {f"{family}/{task}": r for family, ts in families.items() for task, r in ts.items()}
    if not results:
        return f"; against {ZERO_SHOT_BASELINES[kind]['clause']} it has not been measured yet"
    below = [name for name, r in results.items() if r["policy_minus_baseline"]["test"]["ci_high"] < 0]
    return (f"; against {ZERO_SHOT_BASELINES[kind]['clause']} it is ahead on "
            f"{sum(policy_ahead(r) for r in results.values())} of {len(results)} and below it on {len(below)}")


def _replace_block(text: str, tag: str, body: str, path: str) -> str:
    pattern = re.compile(rf"(<!-- generated: {tag} -->\n)(.*?)(<!-- end generated: {tag} -->)", re.S)
    if not pattern.search(text):
        raise ValueError(f"{path}: no '<!-- generated: {tag} -->' ... '<!-- end generated: {tag} -->' block")
    return pattern.sub(lambda m: m.group(1) + body + m.group(3), text)


def render(root: Path) -> dict[str, str]:
    """The new text of each generated file."""
    summaries, zero_shot = load_summaries(root), load_zero_shot(root)
    recipe = load_zero_shot(root, ZERO_SHOT_RECIPE_DIR)
    baselines = {kind: load_zero_shot(root, about["folder"]) for kind, about in ZERO_SHOT_BASELINES.items()}
    blocks = {RESULTS_FILE: {"evidence": evidence_block(summaries), "zero-shot": zero_shot_block(zero_shot),
                             "zero-shot-recipe": zero_shot_recipe_block(recipe),
                             **{about["tag"]: baseline_block(kind, baselines[kind])
                                for kind, about in ZERO_SHOT_BASELINES.items()}},
              README_FILE: {"headline": headline(summaries) + "\n",
                            "pretrained": zero_shot_headline(zero_shot, recipe, baselines) + "\n"}}
    rendered = {}
    for path, bodies in blocks.items():
        text = (root / path).read_text()
        for tag, body in bodies.items():
            text = _replace_block(text, tag, body, path)
        rendered[path] = text
    return rendered
