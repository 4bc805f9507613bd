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

const xmlEscape = (v: string): string =>
  v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');

/**
 * Starts the adapting proxy on 127.0.0.1 in front of `target` (moto's endpoint). CloudFormation's GetTemplate
 * returns the template as submitted (AWS CloudFormation API Reference, GetTemplate: `Original` stage), so the proxy
 * answers it with the body the client sent, not the adapted one moto stored; otherwise every apply would see a
 * changed template and update a stack that did not change.
 */
export async function startMotoProxy(target: string): Promise<MotoProxy> {
  const adapted = new Map<string, string[]>();
  /** The template each stack was last created or updated with, as the client sent it. */
  const submitted = new Map<string, string>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      const type = String(req.headers['content-type'] ?? '');
      let onSuccess: (() => void) | undefined;
      let original: string | undefined;
      if (type.startsWith('application/x-www-form-urlencoded')) {
        const form = new URLSearchParams(body.toString('utf8'));
        const action = form.get('Action');
        const template = form.get('TemplateBody');
        const stackName = form.get('StackName') ?? '';
        if (action === 'GetTemplate') original = submitted.get(stackName);
        if (action === 'DeleteStack') onSuccess = () => submitted.delete(stackName);
        if ((action === 'CreateStack' || action === 'UpdateStack') && template) {
          onSuccess = () => submitted.set(stackName, template);
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
          let out = Buffer.from(await r.arrayBuffer());
          if (r.ok) onSuccess?.();
          if (r.ok && original !== undefined) {
            const xml = out.toString('utf8');
            const replaced = xml.replace(/<TemplateBody>[\s\S]*?<\/TemplateBody>/, () => `<TemplateBody>${xmlEscape(original!)}</TemplateBody>`);
            if (replaced === xml) throw new Error(`moto proxy: no TemplateBody in the GetTemplate answer: ${xml.slice(0, 200)}`);
            out = Buffer.from(replaced, 'utf8');
          }
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
