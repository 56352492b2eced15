"""Pure domain core of awm_frappe: pandas, scikit-learn and jinja2 only. Never imports frappe."""
