"""Acting on results (结果运用): red and yellow lists with the warning cases and talks they
open, the annual appraisal (民主评议党员) and branch ratings (星级支部).

Points are reference data, not a verdict: every step here computes and suggests, and a
person decides (a talk, a grade, an audited score), with a reason where they depart
from the suggestion. What is private (warning cases, talk notes, appraisal inputs,
veto reasons) reaches only the member, their secretary, the branch's instructor and the
office; ``access`` is the one place that says so.
"""
