"""The pure planner: facts + options -> a Plan (refusals are data), plus its file and views.

Nothing here reads the cluster or the clock; only planfile.py touches the disk.
"""
from upgrader.planner.codes import CODES, OVERRIDABLE
from upgrader.planner.fingerprint import drift, facts_fingerprint
from upgrader.planner.ist import IstVerdict, ist_verdict, ist_verdicts
from upgrader.planner.options import COMPONENTS, PlanOptions, parse_targets
from upgrader.planner.order import mysql_writer, roll_order
from upgrader.planner.plan import build_plan
from upgrader.planner.planfile import load_plan, write_plan
from upgrader.planner.refusal import Refusal
from upgrader.planner.render import plan_json, plan_table
from upgrader.planner.safety import refusals
from upgrader.planner.steps import NODE_STEPS
from upgrader.planner.targets import TargetSpec, parse_target_file

__all__ = [
    "CODES", "COMPONENTS", "NODE_STEPS", "OVERRIDABLE", "IstVerdict", "PlanOptions", "Refusal",
    "TargetSpec", "build_plan", "drift", "facts_fingerprint", "ist_verdict", "ist_verdicts",
    "load_plan", "mysql_writer", "parse_target_file", "parse_targets", "plan_json", "plan_table",
    "refusals", "roll_order", "write_plan",
]
