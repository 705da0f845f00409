"""The campaign schema (pydantic) and its loader."""

from ilflow.config.campaign import Campaign
from ilflow.config.loader import load_campaign, parse_campaign
from ilflow.config.system import Box, Species

__all__ = ["Box", "Campaign", "Species", "load_campaign", "parse_campaign"]
