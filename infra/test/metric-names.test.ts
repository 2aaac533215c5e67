import { metricNames, metricsExported, metricsUsed } from './metric-names';

describe('metric names in PromQL', () => {
  it('finds metrics, not functions, keywords, labels, durations or recording rules', () => {
    const expr =
      'sum by (service, route) (rate(http_request_duration_seconds_count{status_code=~"5..", route!="x y"}[5m] offset 1h)) / on (service) group_left shutter:requests:rate5m and up == 0 > 14.4 * 0.01 unless min_over_time(max by (stream) (event_consumer_pending_events)[10m:1m]) > 50';
    expect(metricNames(expr).sort()).toEqual(['event_consumer_pending_events', 'http_request_duration_seconds_count', 'up']);
  });

  it('are read from the alert rules and the dashboard', () => {
    const used = metricsUsed();
    expect(used).toEqual(expect.arrayContaining(['service_ready', 'outbox_oldest_unsent_age_seconds', 'event_consumer_stalled_seconds']));
    expect(used.some((n) => n.includes(':') || n === 'up')).toBe(false);
  });

  it('come from a scrape with the parts of each histogram', () => {
    const page = '# HELP a_seconds x\n# TYPE a_seconds histogram\na_seconds_bucket{le="1"} 0\n# TYPE b_total counter\nb_total 1\n';
    expect([...metricsExported(page)].sort()).toEqual(['a_seconds', 'a_seconds_bucket', 'a_seconds_count', 'a_seconds_sum', 'b_total']);
  });
});
