"""Typed client for Jembatan's sync hub and its EMIS 4.0 and Dapodik gateways (httpx + pydantic only)."""

from jembatan_client.errors import (
    ApiError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    Problem,
    RateLimited,
    Unauthorized,
    Unavailable,
    UnexpectedAnswer,
)
from jembatan_client.gateways import DapodikClient, EmisClient, Versioned
from jembatan_client.hub import HubClient

__version__ = "0.1.0"
__all__ = ["ApiError", "Conflict", "DapodikClient", "EmisClient", "Forbidden", "HubClient", "InvalidInput",
           "NotFound", "PreconditionFailed", "Problem", "RateLimited", "Unauthorized", "Unavailable",
           "UnexpectedAnswer", "Versioned", "__version__"]
