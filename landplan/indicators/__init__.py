"""Per-mu indicators: standard-land tables, project checks, 亩均 evaluation, land-efficiency rates."""
