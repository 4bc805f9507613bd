import * as fs from 'node:fs';
import * as path from 'node:path';
import { IAM_ACTIONS } from './aws';

describe('IAM_ACTIONS', () => {
  it('is exactly the set of operations sdkAwsApi calls', () => {
    const src = fs.readFileSync(path.join(__dirname, 'aws.ts'), 'utf8');
    const called = new Set([...src.matchAll(/call\(\s*'([a-z0-9]+)',\s*'([A-Za-z]+)'/g)].map((m) => `${m[1]}:${m[2]}`));
    expect([...called].sort()).toEqual([...IAM_ACTIONS].sort());
  });
});
