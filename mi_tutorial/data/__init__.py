"""Datasets the chapters train and test models on."""

from mi_tutorial.data.repeated import repeated_tokens

__all__ = ["repeated_tokens"]
