import { type Endpoint, webhookEndpoint } from './server';

describe('webhookEndpoint', () => {
  it.each<[string, Endpoint]>([
    ['/authenticate', 'authenticate'],
    ['/authorize', 'authorize'],
    ['/authenticate?timeout=30s', 'authenticate'],
    ['/authorize?x', 'authorize'],
    ['/authorize/', 'other'],
    ['/authorizex', 'other'],
    ['/Authorize', 'other'],
    ['/', 'other'],
    ['', 'other'],
    ['?/authorize', 'other'],
    ['/access/v1/requests', 'other'],
  ])('%j is %s', (url, endpoint) => {
    expect(webhookEndpoint(url)).toBe(endpoint);
  });
});
