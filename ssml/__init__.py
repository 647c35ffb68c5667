"""Markup → segment plan: W3C SSML 1.1, our emotion tags, vendor dialects, lenient repair."""

from .parser import ParseContext, Scope, TagAction, TagHandler, parse

__all__ = ["ParseContext", "Scope", "TagAction", "TagHandler", "parse"]
