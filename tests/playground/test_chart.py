"""The playground's chart module (app/web/playground_ui/ui/chart.js, URL /playground/ui/chart.js) in the real browser: loaded as
the pages load it, from the live server, on a page of its own under the playground's CSP."""
from __future__ import annotations

import pytest

from app.web.playground import CONTENT_SECURITY_POLICY

BLANK = "/playground/ui/__chart-test.html"
HOSTILE = '<img src=x onerror="window.__pwned = 1">'


@pytest.fixture
def blank(page, web):
    """A blank page of the server's origin (so the module loads same-origin), with the playground's CSP."""
    html = ('<!doctype html><html><head><meta charset="utf-8"><link rel="stylesheet" href="/playground/ui/style.css">'
            '</head><body><div id="box"></div></body></html>')
    page.route(f"{web}{BLANK}", lambda route: route.fulfill(
        status=200, content_type="text/html", body=html, headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY}))
    page.goto(f"{web}{BLANK}")
    page.evaluate("async () => { window.chart = await import('/playground/ui/chart.js'); }")
    return page


def render(page, spec) -> None:
    page.evaluate("spec => { const box = document.getElementById('box'); box.replaceChildren();"
                  " window.chart.renderChart(box, spec); }", spec)


def test_three_series_with_negative_values_make_grouped_bars_around_a_zero_line(blank):
    render(blank, {"kind": "bar", "title": "Profit by region", "labels": ["North", "South", "East", "West"],
                   "series": [{"name": "2024", "values": [12, -37, 40, 5]},
                              {"name": "2025", "values": [20, -8, None, 112]},
                              {"name": "2026", "values": [-3, 15, 30, 0.5]}]})
    svg = blank.locator("#box > svg")
    assert svg.get_attribute("role") == "img" and svg.get_attribute("viewBox").startswith("0 0 ")
    assert blank.locator("#box svg > title").text_content() == "Profit by region"
    desc = blank.locator("#box svg > desc").text_content()
    assert "series: 2024, 2025, 2026" in desc and "South: 2024 -37, 2025 -8, 2026 15" in desc
    assert "2025 no value" in desc  # the gap is said, not drawn as zero
    # One bar per value that is there (11 of 12), three groups of colour, the gap left out.
    assert blank.locator("rect.chart-bar").count() == 11
    assert [blank.locator(f'g.chart-series[data-series="{i}"] rect').count() for i in range(3)] == [4, 3, 4]
    assert blank.locator("rect.chart-bar.negative").count() == 3
    assert blank.locator(".chart-legend text").all_text_contents() == ["2024", "2025", "2026"]
    geometry = blank.evaluate("""() => {
        const zero = document.querySelector('line.chart-zero');
        const bars = [...document.querySelectorAll('rect.chart-bar')].map(r => ({
            negative: r.classList.contains('negative'), top: +r.getAttribute('y'),
            bottom: +r.getAttribute('y') + +r.getAttribute('height'), title: r.querySelector('title').textContent}));
        const ticks = [...document.querySelectorAll('.chart-y-axis text')].map(t => t.textContent);
        const fill = getComputedStyle(document.querySelector('g.chart-series[data-series="1"]')).fill;
        const probe = document.createElement('span'); probe.style.color = 'var(--chart-2)'; document.body.append(probe);
        return {zero: zero && +zero.getAttribute('y1'), bars, ticks, fill, chart2: getComputedStyle(probe).color};
    }""")
    zero = geometry["zero"]
    assert zero is not None
    for bar in geometry["bars"]:
        # Negative bars hang from the zero line, positive ones stand on it.
        assert (bar["top"] == pytest.approx(zero, abs=0.02)) if bar["negative"] else (bar["bottom"] == pytest.approx(zero, abs=0.02))
    assert "South, 2024: -37" in [bar["title"] for bar in geometry["bars"]]
    # Round ticks, evenly spaced, covering -37..112: -50, 0, 50, 100, 150.
    assert [float(t.replace("\u2212", "-").replace(",", "")) for t in geometry["ticks"]] == [-50, 0, 50, 100, 150]
    assert geometry["fill"] == geometry["chart2"]  # the theme's colour, through the CSP-safe style property
    assert blank.console_errors == []


def test_untrusted_labels_and_names_stay_text(blank):
    render(blank, {"kind": "line", "title": f"{HOSTILE} title", "labels": [HOSTILE, "b", "<b>bold</b>"],
                   "series": [{"name": "<script>window.__pwned = 2</script>", "values": [1, 2, 3]},
                              {"name": HOSTILE, "values": [3, None, 1]}]})
    state = blank.evaluate("""() => ({
        pwned: window.__pwned, imgs: document.querySelectorAll('img').length,
        scripts: document.querySelectorAll('#box script').length, bold: document.querySelectorAll('#box b').length,
        labels: [...document.querySelectorAll('.chart-label')].map(t => t.textContent),
        legend: [...document.querySelectorAll('.chart-legend text')].map(t => t.textContent),
        legendTitles: [...document.querySelectorAll('.chart-legend title')].map(t => t.textContent),
        title: document.querySelector('#box svg > title').textContent})""")
    assert state["pwned"] is None and state["imgs"] == 0 and state["scripts"] == 0 and state["bold"] == 0
    assert "<b>bold</b>" in state["labels"]
    # Long names are shortened on the chart and whole in their tooltips, text either way.
    assert state["legend"] == ["<script>window.__pwned = 2<…", HOSTILE[:27] + "…"]
    assert state["legendTitles"] == ["<script>window.__pwned = 2</script>", HOSTILE]
    assert state["title"] == f"{HOSTILE} title"
    assert blank.console_errors == []


def test_a_line_breaks_at_gaps_and_many_labels_are_thinned(blank):
    labels = [f"2026-01-{i:03d}" for i in range(1, 201)]
    values = [float(i % 17) - 4 for i in range(200)]
    values[50] = None
    render(blank, {"kind": "line", "labels": labels, "series": [{"name": "only", "values": values}]})
    path = blank.locator("path.chart-line").get_attribute("d")
    assert path.count("M") == 2  # two segments: before the gap and after it
    shown = blank.locator(".chart-label").count()
    assert 2 <= shown < 40 and blank.locator(".chart-label").last.text_content() == "2026-01-200"
    assert blank.locator(".chart-legend").count() == 0  # one series: no legend
    assert blank.locator("#box svg > title").text_content() == "Line chart"
    assert "…and 100 more." in blank.locator("#box svg > desc").text_content()


def test_nice_ticks_and_refused_specs(blank):
    assert blank.evaluate("() => window.chart.niceTicks(0, 881)") == [0, 200, 400, 600, 800, 1000]
    assert blank.evaluate("() => window.chart.niceTicks(0.1, 0.37)") == [0.1, 0.2, 0.3, 0.4]
    assert blank.evaluate("() => window.chart.niceTicks(5, 5)") == [4.4, 4.6, 4.8, 5, 5.2, 5.4, 5.6]
    render(blank, {"kind": "bar", "labels": ["a", "b"], "series": [{"values": [0, 0]}]})
    assert blank.locator(".chart-y-axis text").all_text_contents()[::5] == ["0", "1"]  # from zero up, not around it
    error = blank.evaluate("""() => { try { window.chart.renderChart(document.body, {kind: 'pie', labels: [], series: []}); }
                               catch (e) { return e.message; } }""")
    assert error == 'kind must be "bar" or "line"'
