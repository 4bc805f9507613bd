/**
 * EC2 `DescribeInstances` for node tokens (docs/authnz-webhook.md#authnz-node-tokens): the only module of the webhook that
 * imports the AWS SDK, loaded on the first node token by `LazyEc2InstanceDirectory` of `node-token.ts`.
 */
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { awsClientConfig, awsErrorCode } from '@kubeaws/runtime';
import type { InstanceDirectory } from './node-token.js';

/**
 * {@link InstanceDirectory} over EC2 `DescribeInstances`, one client per region (endpoint from the SDK settings).
 * The client and the command are imported by name: the image's bundle then keeps only this command's part of the
 * EC2 client (under 0.1 MiB; a lazy import of `@aws-sdk/client-ec2` itself kept all of it, 2.8 MiB). This module is
 * loaded lazily instead, by `LazyEc2InstanceDirectory`, into its own chunk of the bundle.
 */
export class Ec2InstanceDirectory implements InstanceDirectory {
  private readonly clients = new Map<string, EC2Client>();
  constructor(private readonly timeoutMs: number) {}

  async privateDnsName(instanceId: string, region: string): Promise<string | undefined> {
    let client = this.clients.get(region);
    if (!client) {
      client = new EC2Client({ ...awsClientConfig({ component: 'authnz-webhook', region, maxAttempts: 2 }) });
      this.clients.set(region, client);
    }
    try {
      const out = await client.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }), {
        abortSignal: AbortSignal.timeout(this.timeoutMs),
      });
      const inst = out.Reservations?.flatMap((r) => r.Instances ?? []).find((i) => i.InstanceId === instanceId);
      return inst?.PrivateDnsName || undefined;
    } catch (e) {
      if (awsErrorCode(e).startsWith('InvalidInstanceID')) return undefined;
      throw e;
    }
  }

  /** Releases the clients' sockets. */
  destroy(): void {
    for (const c of this.clients.values()) c.destroy();
  }
}
