#!/usr/bin/python3
"""The metric names that Prometheus rule files and Grafana dashboards query.

    promql_names.py FILE...    prints "NAME<Tab>WHERE" per metric name used (rule files: .yaml/.yml,
                               dashboards: .json); WHERE is the alert, record or panel using it.
    promql_names.py --queries DASHBOARD.json VAR=VALUE...
                               prints "WHERE<Tab>PROMQL" per panel query, with the dashboard's
                               variables set to the values given ($__rate_interval and the like: 1m).

The live test (tests/integration/observability_test.cpp) checks every printed name against the
samples of a running kargo-dsp's /health/metrics; check_static.py tests the extraction itself.

Hand-written because no Debian package parses PromQL for Python: the expressions are reduced
(strings, label matchers, ranges and grouping label lists removed) until the identifiers left
are metric names, function names (followed by "(") and keywords.
"""
import json
import re
import sys

import yaml

# Words that are PromQL syntax, not metric names, when not followed by "(".
KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
    "offset", "atan2", "inf", "nan", "start", "end",
}
# Aggregation operators, which may put their grouping before the parenthesis: sum by (x) (...).
AGGREGATIONS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk",
    "quantile", "limitk", "limit_ratio",
}
# Grafana's built-in variables, replaced by a duration before parsing.
GRAFANA_DURATIONS = re.compile(r"\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}")
GRAFANA_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")
STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
MATCHERS = re.compile(r"\{[^{}]*\}")
RANGE = re.compile(r"\[[^\[\]]*\]")
LABEL_LIST = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
IDENTIFIER = re.compile(r"(?<![\w.:])([A-Za-z_:][\w:]*)")


def grafana_to_promql(expr):
    """A dashboard expression with Grafana's variables replaced by valid PromQL."""
    expr = GRAFANA_DURATIONS.sub("5m", expr)
    return GRAFANA_VARIABLE.sub(lambda m: "var_" + (m.group(1) or m.group(2)), expr)


def grafana_expand(expr, values):
    """A dashboard expression as Grafana sends it with these variable values (name -> value)."""
    expr = GRAFANA_DURATIONS.sub("1m", expr)
    return GRAFANA_VARIABLE.sub(lambda m: values[m.group(1) or m.group(2)], expr)


def metric_names(expr):
    """The metric names an expression selects, in order of first use."""
    text = STRING.sub('""', expr)
    text = MATCHERS.sub("{}", text)
    text = RANGE.sub("[]", text)
    text = LABEL_LIST.sub(r"\1()", text)
    names = []
    for match in IDENTIFIER.finditer(text):
        word = match.group(1)
        rest = text[match.end():].lstrip()
        if rest.startswith("(") or word.lower() in KEYWORDS:
            continue
        if word in AGGREGATIONS and re.match(r"(by|without)\b", rest):
            continue
        if word not in names:
            names.append(word)
    return names


LABEL_VALUES = re.compile(r"^\s*label_values\s*\((.*),\s*\w+\s*\)\s*$", re.S)
LABEL_VALUES_ONLY_LABEL = re.compile(r"^\s*label_values\s*\(\s*\w+\s*\)\s*$")


def variable_query_names(query):
    """Metric names of a Grafana Prometheus variable query (label_values, query_result, metrics)."""
    if LABEL_VALUES_ONLY_LABEL.match(query):
        return []
    m = LABEL_VALUES.match(query)
    if m:
        return metric_names(grafana_to_promql(m.group(1)))
    m = re.match(r"^\s*query_result\s*\((.*)\)\s*$", query, re.S)
    if m:
        return metric_names(grafana_to_promql(m.group(1)))
    return metric_names(grafana_to_promql(query))


def rule_expressions(path):
    """(where, expr) of every rule of a Prometheus rule file."""
    with open(path) as f:
        doc = yaml.safe_load(f)
    for group in doc.get("groups", []):
        for rule in group.get("rules", []):
            where = "alert " + rule["alert"] if "alert" in rule else "record " + rule["record"]
            yield where, rule["expr"]


def dashboard_panels(dashboard):
    """Every panel of a dashboard, rows' nested panels included."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def dashboard_targets(path):
    """(where, expression as written) of every panel target of a Grafana dashboard."""
    with open(path) as f:
        dashboard = json.load(f)
    for panel in dashboard_panels(dashboard):
        for target in panel.get("targets", []):
            if target.get("expr"):
                yield 'panel "%s" %s' % (panel.get("title", ""), target.get("refId", "")), target["expr"]


def dashboard_expressions(path):
    """(where, PromQL) of every panel target of a Grafana dashboard, Grafana's variables replaced."""
    for where, expr in dashboard_targets(path):
        yield where, grafana_to_promql(expr)


def dashboard_variable_queries(path):
    """(where, query) of the dashboard's query variables."""
    with open(path) as f:
        dashboard = json.load(f)
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") != "query":
            continue
        query = var.get("query")
        if isinstance(query, dict):
            query = query.get("query", "")
        yield "variable $" + var["name"], query


def names_in_file(path):
    """(name, where) of every metric name a rule file or a dashboard uses."""
    out = []
    if path.endswith(".json"):
        for where, expr in dashboard_expressions(path):
            out += [(n, where) for n in metric_names(expr)]
        for where, query in dashboard_variable_queries(path):
            out += [(n, where) for n in variable_query_names(query)]
    else:
        for where, expr in rule_expressions(path):
            out += [(n, where) for n in metric_names(expr)]
    return out


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    if argv[1] == "--queries":
        values = dict(arg.split("=", 1) for arg in argv[3:])
        for where, expr in dashboard_targets(argv[2]):
            print("%s\t%s" % (where, " ".join(grafana_expand(expr, values).split())))
        return 0
    for path in argv[1:]:
        for name, where in names_in_file(path):
            print("%s\t%s: %s" % (name, path.rsplit("/", 1)[-1], where))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
