"""(placeholder: filled in by the strategy work of issue 3)"""
