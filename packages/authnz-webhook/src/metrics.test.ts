import { ComponentMetrics } from '@kubeaws/runtime';
import { WebhookMetrics } from './metrics';

describe('WebhookMetrics', () => {
  it("WebhookMetrics' request-path handles feed the documented families", async () => {
    const w = new WebhookMetrics(new ComponentMetrics('authnz-webhook', { processMetrics: false }));
    // both webhook endpoints' latency series are there before the first request (AUTHNZ-METRICS)
    const before = await w.base.registry.metrics();
    for (const endpoint of ['authenticate', 'authorize'])
      expect(before).toContain(`kubeaws_authnz_webhook_http_request_duration_seconds_count{endpoint="${endpoint}"} 0`);
    w.httpRequestsBy.child('authorize', '200').inc();
    // the resolved 200 handles are the same series as the children of those labels
    w.authorizeOk.inc();
    w.authenticateOk.inc();
    expect(w.authorizeOk).toBe(w.httpRequestsBy.child('authorize', '200'));
    w.sarsBy.child('deny', 'protected-secrets', 'PowerUser').inc();
    w.tokenReviewsBy.child('authenticated', 'oidc', 'corp').inc();
    w.cacheLookupsBy.child('miss').inc();
    w.authorizeDuration.observe(0.002);
    const text = await w.base.registry.metrics();
    for (const line of [
      'kubeaws_authnz_webhook_http_requests_total{endpoint="authorize",code="200"} 2',
      'kubeaws_authnz_webhook_http_requests_total{endpoint="authenticate",code="200"} 1',
      'kubeaws_authnz_webhook_subjectaccessreviews_total{decision="deny",rule="protected-secrets",role="PowerUser"} 1',
      'kubeaws_authnz_webhook_tokenreviews_total{result="authenticated",source="oidc",issuer="corp"} 1',
      'kubeaws_authnz_webhook_token_cache_lookups_total{result="miss"} 1',
      'kubeaws_authnz_webhook_http_request_duration_seconds_count{endpoint="authorize"} 1',
    ])
      expect(text).toContain(line);
  });
});
