/**
 * What moto's CloudFormation does not do like AWS, and a small HTTP proxy in front of moto that adapts the
 * templates of CreateStack/UpdateStack so the rest of the stack can be created. Every adaptation is listed in
 * docs/infra.md; the adapted properties are asserted on the rendered template instead.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/** Resource types moto's CloudFormation skips: asserted on the rendered template only. */
export const TEMPLATE_ONLY_TYPES = new Set([
  'AWS::IAM::OIDCProvider',
  'AWS::SQS::QueuePolicy',
  'AWS::S3::BucketPolicy',
  'AWS::EC2::SecurityGroupEgress',
]);

/**
 * Reads a policy document as moto returns it: URL-encoded JSON, or (for inline policies created by its
 * CloudFormation) the Python repr of the document.
 */
export function parsePolicyDocument(raw: string): { Statement: Record<string, any>[] } {
  const text = decodeURIComponent(raw);
  try {
    return JSON.parse(text);
  } catch {
    return JSON.parse(
      text
        .replace(/'/g, '"')
        .replace(/\bTrue\b/g, 'true')
        .replace(/\bFalse\b/g, 'false'),
    );
  }
}

/** One adaptation of a template for moto. */
export interface MotoGap {
  description: string;
  apply(template: { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> }): void;
}

/** The adaptations, in order. */
export const MOTO_GAPS: MotoGap[] = [
  {
    // moto creates every AWS::ElasticLoadBalancingV2::LoadBalancer of a template as an application load
    // balancer (it ignores Type and Name), whose listeners reject the NLB protocol TLS.
    description: 'ELBv2 listener protocol TLS → HTTPS (moto ignores the load balancer Type)',
    apply(t) {
      for (const r of Object.values(t.Resources)) {
        if (r.Type === 'AWS::ElasticLoadBalancingV2::Listener' && r.Properties?.Protocol === 'TLS')
          r.Properties.Protocol = 'HTTPS';
      }
    },
  },
];

/** A running proxy: the endpoint to give the SDK, and what it adapted. */
export interface MotoProxy {
  endpoint: string;
  /** Descriptions of the adaptations applied, per stack name. */
  adapted: Map<string, string[]>;
  close(): Promise<void>;
}

/** Starts the adapting proxy on 127.0.0.1 in front of `target` (moto's endpoint). */
export async function startMotoProxy(target: string): Promise<MotoProxy> {
  const adapted = new Map<string, string[]>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      const type = String(req.headers['content-type'] ?? '');
      if (type.startsWith('application/x-www-form-urlencoded')) {
        const form = new URLSearchParams(body.toString('utf8'));
        const action = form.get('Action');
        const template = form.get('TemplateBody');
        if ((action === 'CreateStack' || action === 'UpdateStack') && template) {
          const t = JSON.parse(template);
          const applied: string[] = [];
          for (const gap of MOTO_GAPS) {
            const before = JSON.stringify(t);
            gap.apply(t);
            if (JSON.stringify(t) !== before) applied.push(gap.description);
          }
          adapted.set(form.get('StackName') ?? '', applied);
          form.set('TemplateBody', JSON.stringify(t));
          body = Buffer.from(form.toString(), 'utf8');
        }
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers))
        if (typeof v === 'string' && k !== 'content-length' && k !== 'host') headers[k] = v;
      fetch(`${target}${req.url}`, {
        method: req.method,
        headers,
        body: req.method === 'GET' || req.method === 'HEAD' ? undefined : body,
      })
        .then(async (r) => {
          const out = Buffer.from(await r.arrayBuffer());
          const h: Record<string, string> = {};
          r.headers.forEach((v, k) => {
            if (k !== 'content-length' && k !== 'transfer-encoding' && k !== 'content-encoding') h[k] = v;
          });
          res.writeHead(r.status, h);
          res.end(out);
        })
        .catch((err: Error) => {
          res.writeHead(502);
          res.end(err.message);
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    adapted,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
