#!/usr/bin/python3
"""Checks of the monitoring files that need no running service:

* every alert has a severity, a summary, a description and a runbook_url whose section exists in
  docs/RUNBOOK.md, and the runbook's own links reach its sections;
* alerts_test.yaml has, for every alert, a case where it fires and one where it does not;
* the Grafana dashboard is well formed: the data source is the ${datasource} variable, the job and
  instance variables exist and every query selects on them, panels do not overlap, and every
  query is valid PromQL (promtool parses them as recording rules);
* the metric-name extraction that the live test relies on (promql_names.py) reads PromQL right.

    check_static.py REPO_ROOT [unittest arguments]
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import promql_names  # noqa: E402

ROOT = None  # set by main()
PROMTOOL = "promtool"


def path(*parts):
    return os.path.join(ROOT, *parts)


def load_yaml(*parts):
    with open(path(*parts)) as f:
        return yaml.safe_load(f)


RULE_FILES = [("deploy", "prometheus", "alerts.yaml"), ("deploy", "prometheus", "alerts-kubernetes.yaml")]


def alerts():
    """(file, rule) of every alerting rule."""
    for parts in RULE_FILES:
        for group in load_yaml(*parts)["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    yield parts[-1], rule


def github_anchor(heading):
    """The anchor GitHub gives a Markdown heading."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def runbook_anchors():
    anchors = set()
    with open(path("docs", "RUNBOOK.md")) as f:
        in_code = False
        for line in f:
            if line.startswith("```"):
                in_code = not in_code
            elif not in_code and line.startswith("#"):
                anchors.add(github_anchor(line.lstrip("#")))
    return anchors


def promtool_check_expressions(expressions):
    """promtool's verdict on the expressions, each as a recording rule: (ok, output)."""
    rules = {"groups": [{"name": "parse", "rules": [
        {"record": "parse:expression_%d" % i, "expr": expr} for i, expr in enumerate(expressions)]}]}
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(rules, f)
        name = f.name
    try:
        run = subprocess.run([PROMTOOL, "check", "rules", name], capture_output=True, text=True)
        return run.returncode == 0, run.stdout + run.stderr
    finally:
        os.unlink(name)


class PromqlNamesTest(unittest.TestCase):
    def test_finds_metric_names_and_skips_functions_keywords_labels_and_durations(self):
        cases = {
            'up{job="kargo-dsp"} == 0': ["up"],
            'sum by (job, route) (rate(http_requests_total{job="x",status=~"5.."}[5m])) > 0.05':
                ["http_requests_total"],
            'histogram_quantile(0.99, sum without (instance) (rate(a_bucket{le!="x"}[5m:1m]))) > 1e3':
                ["a_bucket"],
            "a / on (job) group_left (kind) b offset 5m and ignoring(state) c unless bool_metric":
                ["a", "b", "c", "bool_metric"],
            'max by (job) (report_pull_age_seconds) > 3 * 3600 or vector(0)': ["report_pull_age_seconds"],
            'time() - process_start_time_seconds{instance=~"$instance"}': ["process_start_time_seconds"],
            'count(x{a="sum(by) {nested}"}) > bool 2': ["x"],
            "changes(process_start_time_seconds[1h]) > 2 and inf > nan": ["process_start_time_seconds"],
            "job:requests:rate5m > 0": ["job:requests:rate5m"],
        }
        for expr, names in cases.items():
            with self.subTest(expr=expr):
                self.assertEqual(promql_names.metric_names(expr), names)

    def test_grafana_variables_become_valid_promql(self):
        expr = promql_names.grafana_to_promql(
            'rate(x{job="$job",instance=~"${instance}",r=~"${route:regex}"}[$__rate_interval])')
        self.assertEqual(expr, 'rate(x{job="var_job",instance=~"var_instance",r=~"var_route"}[5m])')
        self.assertEqual(promql_names.metric_names(expr), ["x"])

    def test_variable_queries_name_their_metric_not_their_label(self):
        self.assertEqual(promql_names.variable_query_names('label_values(up{job="$job"}, instance)'), ["up"])
        self.assertEqual(promql_names.variable_query_names("label_values(job)"), [])
        self.assertEqual(promql_names.variable_query_names("query_result(max by (kind) (jobs_queue_depth))"),
                         ["jobs_queue_depth"])

    def test_a_misnamed_metric_in_a_rule_file_is_reported(self):
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write("groups:\n  - name: g\n    rules:\n      - alert: Broken\n"
                    "        expr: sum(rate(kargo_no_such_metric_total[5m])) > 0\n")
            name = f.name
        try:
            self.assertEqual(promql_names.names_in_file(name), [("kargo_no_such_metric_total", "alert Broken")])
        finally:
            os.unlink(name)


class AlertRulesTest(unittest.TestCase):
    def test_every_alert_has_severity_summary_description_and_a_runbook_section(self):
        anchors = runbook_anchors()
        names = []
        for file, rule in alerts():
            name = rule["alert"]
            names.append(name)
            with self.subTest(alert=name):
                self.assertIn(rule.get("labels", {}).get("severity"), {"critical", "warning"})
                annotations = rule.get("annotations", {})
                self.assertTrue(annotations.get("summary"))
                self.assertTrue(annotations.get("description"))
                self.assertEqual(annotations.get("runbook_url"), "docs/RUNBOOK.md#" + name.lower())
                self.assertIn(name.lower(), anchors, "docs/RUNBOOK.md has no section " + name)
        self.assertEqual(len(names), len(set(names)), "alert names repeat")
        self.assertGreaterEqual(len(names), 15)

    def test_every_alert_has_a_firing_and_a_quiet_case_in_alerts_test(self):
        tests = load_yaml("deploy", "prometheus", "alerts_test.yaml")
        self.assertEqual(sorted(tests["rule_files"]), sorted(p[-1] for p in RULE_FILES))
        fires, quiet = set(), set()
        for case in tests["tests"]:
            for check in case.get("alert_rule_test", []):
                (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
        for _, rule in alerts():
            with self.subTest(alert=rule["alert"]):
                self.assertIn(rule["alert"], fires, "no case where it fires")
                self.assertIn(rule["alert"], quiet, "no case where it stays quiet")


class RunbookTest(unittest.TestCase):
    def test_links_of_the_runbook_reach_its_sections_and_files(self):
        anchors = runbook_anchors()
        with open(path("docs", "RUNBOOK.md")) as f:
            text = f.read()
        links = re.findall(r"\]\(([^)\s]+)\)", text)
        self.assertTrue(links)
        for link in links:
            with self.subTest(link=link):
                if link.startswith("#"):
                    self.assertIn(link[1:], anchors)
                elif "://" not in link:
                    self.assertTrue(os.path.exists(path("docs", link.split("#")[0])), link)


class DashboardTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(path("deploy", "grafana", "kargo-dsp.json")) as f:
            cls.dashboard = json.load(f)
        cls.panels = list(promql_names.dashboard_panels(cls.dashboard))
        cls.data_panels = [p for p in cls.panels if p["type"] != "row"]

    def test_data_source_job_and_instance_are_variables(self):
        variables = {v["name"]: v for v in self.dashboard["templating"]["list"]}
        self.assertEqual(variables["datasource"]["type"], "datasource")
        self.assertEqual(variables["datasource"]["query"], "prometheus")
        for name in ("job", "instance"):
            self.assertEqual(variables[name]["type"], "query")
            self.assertEqual(variables[name]["datasource"]["uid"], "${datasource}")
        self.assertTrue(variables["instance"]["multi"])
        self.assertTrue(variables["instance"]["includeAll"])
        self.assertTrue(self.dashboard.get("uid"))
        self.assertTrue(self.dashboard.get("title"))

    def test_every_panel_queries_the_datasource_variable_for_the_selected_job_and_instances(self):
        self.assertGreaterEqual(len(self.data_panels), 30)
        for panel in self.data_panels:
            with self.subTest(panel=panel["title"]):
                self.assertEqual(panel["datasource"], {"type": "prometheus", "uid": "${datasource}"})
                self.assertTrue(panel["targets"])
                for target in panel["targets"]:
                    self.assertEqual(target["datasource"]["uid"], "${datasource}")
                    expr = target["expr"]
                    for name in promql_names.metric_names(promql_names.grafana_to_promql(expr)):
                        # Every selector of the metric carries both matchers.
                        uses = [m.start() for m in re.finditer(r"(?<![\w:])%s(?![\w:])" % re.escape(name), expr)]
                        for use in uses:
                            selector = re.match(r"%s\{([^}]*)\}" % re.escape(name), expr[use:])
                            self.assertIsNotNone(selector, "%s without label matchers in %s" % (name, expr))
                            self.assertIn('job="$job"', selector.group(1), expr)
                            self.assertIn('instance=~"$instance"', selector.group(1), expr)

    def test_panel_ids_are_unique_and_panels_fit_the_grid_without_overlapping(self):
        ids = [p["id"] for p in self.panels]
        self.assertEqual(len(ids), len(set(ids)))
        boxes = []
        for panel in self.panels:
            g = panel["gridPos"]
            with self.subTest(panel=panel["title"]):
                self.assertGreaterEqual(g["x"], 0)
                self.assertLessEqual(g["x"] + g["w"], 24)
                self.assertGreater(g["h"], 0)
            for other_title, o in boxes:
                overlap = (g["x"] < o["x"] + o["w"] and o["x"] < g["x"] + g["w"] and
                           g["y"] < o["y"] + o["h"] and o["y"] < g["y"] + g["h"])
                self.assertFalse(overlap, "%s overlaps %s" % (panel["title"], other_title))
            boxes.append((panel["title"], g))

    def test_every_query_is_valid_promql(self):
        expressions = [expr for _, expr in promql_names.dashboard_expressions(
            path("deploy", "grafana", "kargo-dsp.json"))]
        for _, query in promql_names.dashboard_variable_queries(path("deploy", "grafana", "kargo-dsp.json")):
            m = promql_names.LABEL_VALUES.match(query)
            expressions.append(promql_names.grafana_to_promql(m.group(1) if m else query))
        ok, output = promtool_check_expressions(expressions)
        self.assertTrue(ok, output)
        # ... and promtool does refuse a broken one, so the check above can fail.
        ok, _ = promtool_check_expressions(['sum(rate(x[5m])'])
        self.assertFalse(ok)


def main():
    global ROOT
    if len(sys.argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    ROOT = os.path.abspath(sys.argv[1])
    program = unittest.main(argv=[sys.argv[0]] + sys.argv[2:], exit=False, verbosity=2)
    return 0 if program.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
