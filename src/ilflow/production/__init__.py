"""Production simulations: state points planned from the campaign, each prepared and run resumably."""

from ilflow.production.plan import ProductionRun, plan_runs, scaled_species
from ilflow.production.run import run_production

__all__ = ["ProductionRun", "plan_runs", "run_production", "scaled_species"]
