import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DescribeVpcsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { classifyAwsError } from './decide';
import { ec2ErrorCode } from './ec2';

/** The error the real EC2 client throws against a local HTTP server that answers with `handle`. */
async function sdkError(handle: Parameters<typeof createServer>[1] | 'refused'): Promise<unknown> {
  const srv = createServer(handle === 'refused' ? undefined : handle);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  if (handle === 'refused') await new Promise((r) => srv.close(r));
  const client = new EC2Client({ endpoint: `http://127.0.0.1:${port}`, region: 'eu-central-1', maxAttempts: 1, credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
  try {
    await client.send(new DescribeVpcsCommand({}));
    return undefined;
  } catch (err) {
    return err;
  } finally {
    client.destroy();
    srv.closeAllConnections();
    if (handle !== 'refused') await new Promise((r) => srv.close(r));
  }
}

describe('ec2ErrorCode (docs/static-egress-controller.md#seg-failures)', () => {
  it.each<[string, Parameters<typeof sdkError>[0], string, string]>([
    ['connection reset: NetworkError, retried like throttling', (req) => req.socket.destroy(), 'NetworkError', 'throttled'],
    ['connection refused: NetworkError, retried like throttling', 'refused', 'NetworkError', 'throttled'],
    [
      'an EC2 error answer: its code',
      (_req, res) => {
        res.writeHead(400, { 'content-type': 'text/xml' });
        res.end('<?xml version="1.0"?><Response><Errors><Error><Code>InvalidParameterValue</Code><Message>bad</Message></Error></Errors><RequestID>r1</RequestID></Response>');
      },
      'InvalidParameterValue',
      'cidr-failed',
    ],
  ])('%s', async (_name, handle, code, cls) => {
    const err = await sdkError(handle);
    expect(ec2ErrorCode(err)).toBe(code);
    expect(classifyAwsError(ec2ErrorCode(err))).toBe(cls);
  });
});
