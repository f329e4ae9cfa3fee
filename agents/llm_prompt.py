"""The LLM grader's prompt: the rubric's rules and thresholds, the window summary, the rubric's grade, the
evidence about the trajectory and the actions the policies allow (the LLM recommends among them only)."""

from __future__ import annotations

from agents.evidence_model import Evidence
from agents.grade import Grade
from agents.llm_answer import TOOL_NAME
from agents.metrics import MetricWindow
from agents.rubric import RubricThresholds


def rubric_rules(t: RubricThresholds) -> str:
    """The rubric in words, with the thresholds actually in force."""
    return "\n".join([
        "100-point rubric (letters: A >= 90, B >= 80, C >= 70, D >= 60, F < 60):",
        f"- loss_convergence (30): smooth decrease 30, some spikes 20, erratic 10, diverging 0. "
        f"Spike: a step loss > {t.spike_ratio} x the median of the previous {t.spike_lookback} "
        f"and at least {t.spike_min_delta} above it. Diverging: any non-finite loss, or the mean of the "
        f"last quarter of the loss curve > {t.diverge_ratio} x the mean of its first quarter. "
        f"Erratic: spikes on more than {t.erratic_spike_fraction:.0%} of steps, or a rising curve.",
        f"- validation_accuracy (30), last epoch exact match: above {t.accuracy_excellent:.0%} 30, "
        f"{t.accuracy_good:.0%}-{t.accuracy_excellent:.0%} 25, "
        f"{t.accuracy_fair:.0%}-{t.accuracy_good:.0%} 20, "
        f"below {t.accuracy_fair:.0%} 10.",
        f"- format_correctness (20), last epoch format validity: perfect (>= {t.format_perfect:.0%}) 20, "
        f"minor errors (>= {t.format_minor:.0%}) 15, major errors 5.",
        f"- progress_consistency (20): steady improvement 20, plateau handled 15, stall 10, regression 0. "
        f"Flat epoch: val loss improved by less than {t.stall_tolerance:.1%}; "
        f"plateau: {t.plateau_epochs} flat epochs in a row; stall: the window ends in a plateau; "
        f"regression: exact match fell more than "
        f"{t.regression_tolerance:.1%} below the window's best.",
        f"- Any hard fault caps the grade at {t.hard_fault_cap} (F).",
    ])


def system_prompt(thresholds: RubricThresholds, max_score_delta: int, max_rationale_chars: int) -> str:
    return "\n\n".join([
        "You are the watchdog of an unattended fine-tuning run. You grade one window of training metrics "
        "of one specialist model on a fixed rubric. A deterministic grader has already applied the rubric; "
        "check its reading of the numbers, explain the grade, and adjust the points where the numbers "
        "justify it.",
        rubric_rules(thresholds),
        f"Your total may differ from the deterministic score by at most {max_score_delta} points; larger "
        "moves are clamped. A window with a hard fault is graded F whatever you answer.",
        "Interventions are not decided by the letter: a fixed policy table acts on the evidence about the "
        "trajectory (improving, plateaued, regressing beyond the noise intervals, unstable, inconclusive). "
        "If you give a recommendation, it must start with exactly one of the allowed actions listed with the "
        "window, then say why in a sentence; the policy table still decides.",
        f"Answer only by calling the {TOOL_NAME} tool. score must equal the sum of the component points and "
        f"letter must match score. Keep the rationale under {max_rationale_chars} characters and quote the "
        "numbers you rely on.",
    ])


def evidence_lines(evidence: Evidence) -> list[str]:
    """The evidence in words: the verdict with its reasons, and each measured number with its interval."""
    lines = [f"Evidence: {evidence.verdict} ({evidence.evaluations} evaluation(s) on the trajectory)"]
    lines += [f"- {reason}" for reason in evidence.reasons]
    named = (("exact match", evidence.exact_match), ("best exact match before", evidence.best_exact_match),
             ("validity", evidence.validity), ("best validity before", evidence.best_validity))
    lines += [f"- {name}: {interval.text()}" for name, interval in named if interval is not None]
    if evidence.trend is not None:
        se = evidence.trend.standard_error
        error = f" ± {se:.3g} (standard error)" if se is not None else " (two points: no error estimate)"
        lines.append(f"- val loss slope per evaluation: {evidence.trend.slope:.4g}{error}")
    if evidence.spikes:
        worst = max(spike.robust_z for spike in evidence.spikes)
        lines.append(f"- spikes: {len(evidence.spikes)}, worst robust z {worst:.1f}")
    return lines


def user_prompt(window: MetricWindow, rubric_grade: Grade) -> str:
    component_lines = []
    for component in rubric_grade.components:
        measured = ", ".join(f"{key}={value:.4g}" for key, value in component.measured.items())
        component_lines.append(f"- {component.name}: {component.points}/{component.max_points} "
                               f"({component.reason}); measured: {measured}")
    return "\n".join([
        "Metric window:",
        window.summary(),
        "",
        f"Deterministic rubric grade: {rubric_grade.score}/100 ({rubric_grade.letter})",
        *component_lines,
        "",
        *([*evidence_lines(window.evidence), ""] if window.evidence else []),
        *([f"Allowed actions (recommend only one of these): {', '.join(window.allowed_actions)}", ""]
          if window.allowed_actions else []),
        f"Call {TOOL_NAME} with your grade.",
    ])
