import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  findSample,
  histogram,
  parsePrometheus,
  PrometheusParseError,
  sampleValue,
} from "../_helpers/prometheus.ts";

const GOOD = `# A plain comment
# HELP http_requests_total Requests, with a \\\\ and a\\nsecond line.
# TYPE http_requests_total counter
http_requests_total{method="GET",path="/a\\"b\\\\c\\nd"} 3
http_requests_total{method="POST",path="/",} 1.5e3 1712000000000

# TYPE temperature gauge
temperature -Inf
# TYPE odd:name_x gauge
odd:name_x{a="1"} NaN
# HELP latency_seconds How long.
# TYPE latency_seconds histogram
latency_seconds_bucket{kind="a",le="0.1"} 1
latency_seconds_bucket{kind="a",le="1"} 3
latency_seconds_bucket{kind="a",le="+Inf"} 4
latency_seconds_sum{kind="a"} 7.25
latency_seconds_count{kind="a"} 4
latency_seconds_bucket{kind="b",le="0.1"} 0
latency_seconds_bucket{kind="b",le="+Inf"} 0
latency_seconds_sum{kind="b"} 0
latency_seconds_count{kind="b"} 0
# TYPE rpc summary
rpc{quantile="0.5"} 2
rpc_sum 10
rpc_count 5
# TYPE up untyped
up +Inf
`;

/** Asserts that `text` fails to parse at `line` with a message matching `message`. */
function rejects(text: string, line: number, message: RegExp): void {
  assert.throws(
    () => parsePrometheus(text),
    (err: unknown) => {
      assert.ok(err instanceof PrometheusParseError, `not a PrometheusParseError: ${err}`);
      assert.equal(err.line, line, err.message);
      assert.match(err.message, message);
      assert.match(err.message, new RegExp(`^line ${line}: `));
      return true;
    },
  );
}

describe("Prometheus text parser (test helper)", () => {
  test("parses HELP, TYPE, labels with escapes, special values and timestamps", () => {
    const e = parsePrometheus(GOOD);
    assert.deepEqual([...e.families.keys()], [
      "http_requests_total",
      "temperature",
      "odd:name_x",
      "latency_seconds",
      "rpc",
      "up",
    ]);
    const requests = e.families.get("http_requests_total")!;
    assert.equal(requests.type, "counter");
    assert.equal(requests.help, "Requests, with a \\ and a\nsecond line.");
    assert.equal(sampleValue(e, "http_requests_total", { method: "GET", path: '/a"b\\c\nd' }), 3);
    const post = findSample(e, "http_requests_total", { method: "POST", path: "/" })!;
    assert.equal(post.value, 1500);
    assert.equal(post.timestamp, 1712000000000);
    assert.equal(post.line, 5);
    assert.equal(sampleValue(e, "temperature"), -Infinity);
    assert.ok(Number.isNaN(sampleValue(e, "odd:name_x", { a: "1" })));
    assert.equal(sampleValue(e, "up"), Infinity);
    assert.equal(sampleValue(e, "rpc_count"), 5);
    assert.equal(findSample(e, "temperature", { extra: "x" }), undefined);
    assert.throws(() => sampleValue(e, "missing"), /no sample missing/);
  });

  test("reads histogram series back", () => {
    const e = parsePrometheus(GOOD);
    assert.deepEqual(histogram(e, "latency_seconds", { kind: "a" }), {
      buckets: [{ le: 0.1, count: 1 }, { le: 1, count: 3 }, { le: Infinity, count: 4 }],
      sum: 7.25,
      count: 4,
    });
    assert.equal(histogram(e, "latency_seconds", { kind: "b" }).count, 0);
    assert.throws(() => histogram(e, "latency_seconds", { kind: "c" }), /no histogram series/);
    assert.throws(() => histogram(e, "temperature"), /no histogram temperature/);
  });

  test("an empty exposition is valid", () => {
    assert.equal(parsePrometheus("").families.size, 0);
  });

  test("syntax errors name their line", () => {
    rejects("# TYPE a counter\na 1", 2, /does not end with a line feed/);
    rejects("# TYPE a counter\n\n1a 2\n", 3, /bad metric name/);
    rejects('# TYPE a gauge\na{b="1"}\n', 2, /no value/);
    rejects("# TYPE a gauge\na one\n", 2, /bad sample value/);
    rejects("# TYPE a gauge\na Infinity\n", 2, /bad sample value/);
    rejects("# TYPE a gauge\na 1 2.5\n", 2, /bad timestamp/);
    rejects("# TYPE a gauge\na 1 2 3\n", 2, /text after the timestamp/);
    rejects('# TYPE a gauge\na{b="1} 1\n', 2, /not closed/);
    rejects("# TYPE a gauge\na{b=1} 1\n", 2, /not quoted/);
    rejects('# TYPE a gauge\na{b="\\t"} 1\n', 2, /bad escape \\t in label value/);
    rejects('# TYPE a gauge\na{1b="x"} 1\n', 2, /bad label name/);
    rejects('# TYPE a gauge\na{b="x" c="y"} 1\n', 2, /expected , or }/);
    rejects('# TYPE a gauge\na{b="x",b="y"} 1\n', 2, /label b appears twice/);
    rejects("# TYPE a gauge\n# HELP a bad \\q escape\n", 2, /bad escape \\q in HELP/);
    rejects("# TYPE a number\n", 1, /unknown type/);
    rejects("# TYPE\n", 1, /bad metric name/);
  });

  test("family rules: TYPE first, once, one group, no duplicate series", () => {
    rejects("a 1\n", 1, /sample a has no TYPE line before it/);
    rejects("# HELP a x\na 1\n# TYPE a gauge\n", 2, /no TYPE line before it/);
    rejects("# TYPE a gauge\n# TYPE a counter\n", 2, /second TYPE for a/);
    rejects("# HELP a x\n# HELP a y\n", 2, /second HELP for a/);
    rejects('# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na{x="1"} 2\n', 5, /continues after/);
    rejects('# TYPE a gauge\na{x="1"} 1\na{x="1"} 2\n', 3, /same series appears twice/);
    rejects("# TYPE a counter\na -1\n", 2, /counter is negative/);
    rejects("# TYPE a counter\na NaN\n", 2, /counter is negative or NaN/);
    // A _count sample belongs to a histogram of the base name, not to a gauge of it.
    rejects("# TYPE a gauge\na_count 1\n", 2, /a_count has no TYPE line/);
  });

  test("histogram rules", () => {
    const h = (body: string): string => `# TYPE h histogram\n${body}`;
    rejects(
      h('h_bucket{le="1"} 1\nh_bucket{le="0.5"} 1\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'),
      3,
      /not ascending/,
    );
    rejects(
      h('h_bucket{le="1"} 2\nh_bucket{le="2"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 2\n'),
      3,
      /not cumulative/,
    );
    rejects(h('h_bucket{le="1"} 1\nh_bucket{le="2"} 1\nh_sum 1\nh_count 1\n'), 3, /\+Inf/);
    rejects(h('h_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n'), 5, /differs/);
    rejects(h('h_bucket{le="+Inf"} 2\nh_count 2\n'), 2, /without _sum/);
    rejects(h('h_bucket{le="+Inf"} 2\nh_sum 2\n'), 2, /without _count/);
    rejects(h("h_sum 2\nh_count 0\n"), 2, /without buckets/);
    rejects(h("h_bucket 2\n"), 2, /bucket without le/);
    rejects(h('h_bucket{le="x"} 2\n'), 2, /bad le/);
    rejects(h("h 2\n"), 2, /bare sample/);
    // One series' rules do not mix with another's (labels other than le tell them apart).
    rejects(
      h(
        'h_bucket{k="a",le="+Inf"} 1\nh_sum{k="a"} 1\nh_count{k="a"} 1\n' +
          'h_bucket{k="b",le="+Inf"} 1\nh_sum{k="b"} 1\nh_count{k="b"} 2\n',
      ),
      7,
      /_count 2 differs from the \+Inf bucket 1/,
    );
  });
});
