import { type MotoServer, startMoto } from '../src';

/** A SigV4-shaped Authorization header: moto routes by the credential scope's service and does not verify signatures. */
function authFor(service: string, region = 'us-east-1'): string {
  return `AWS4-HMAC-SHA256 Credential=testing/20260101/${region}/${service}/aws4_request, SignedHeaders=host, Signature=0`;
}

async function query(m: MotoServer, service: string, body: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${m.endpoint}/`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: authFor(service) },
    body,
  });
  return { status: res.status, text: await res.text() };
}

describe('moto server', () => {
  let moto: MotoServer;

  beforeAll(async () => {
    // The first run on a machine creates the Python venv (pip install of the pinned moto).
    moto = await startMoto();
  }, 600_000);

  afterAll(async () => {
    await moto?.stop();
  });

  it('listens on loopback', () => {
    expect(moto.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('answers EC2 DescribeRegions', async () => {
    const { status, text } = await query(moto, 'ec2', 'Action=DescribeRegions&Version=2016-11-15');
    expect(status).toBe(200);
    expect(text).toContain('<DescribeRegionsResponse');
    expect(text).toContain('<regionName>us-east-1</regionName>');
  });

  it('answers STS GetCallerIdentity', async () => {
    const { status, text } = await query(moto, 'sts', 'Action=GetCallerIdentity&Version=2011-06-15');
    expect(status).toBe(200);
    expect(text).toMatch(/<Account>\d{12}<\/Account>/);
  });

  it('keeps state until reset', async () => {
    const create = await query(moto, 'ec2', 'Action=CreateVpc&Version=2016-11-15&CidrBlock=10.42.0.0/16');
    expect(create.status).toBe(200);
    const vpcs = async (): Promise<string> =>
      (await query(moto, 'ec2', 'Action=DescribeVpcs&Version=2016-11-15')).text;
    expect(await vpcs()).toContain('10.42.0.0/16');
    await moto.reset();
    expect(await vpcs()).not.toContain('10.42.0.0/16');
  });
});
