"""Fine-tuning methods: a registry plus built-ins written exactly like plugins."""

from framework.methods.base import ApplyContext, Capabilities, Method
from framework.methods.registry import get_method, method_names, register_method

__all__ = [
    "ApplyContext",
    "Capabilities",
    "Method",
    "get_method",
    "method_names",
    "register_method",
]
