import { describe, expect, it } from 'vitest';
import {
  createRedactor,
  isSecretVar,
  MIN_SECRET_CHARS,
  REDACTED,
  redactPatterns,
  redactPlanVars,
  secretValues,
  secretVarNames,
} from '../../domain/redaction.js';

describe('secretValues', () => {
  it('takes the values of the vars the specs mark secret, nested strings and numbers included', () => {
    const vars = { admin_password: 'hunter2!', port: 3001, creds: { token: 'tok-123456', pin: 98765 }, name: 'kuma' };
    const specs = [
      { name: 'admin_password', secret: true },
      { name: 'creds', secret: true },
      { name: 'port', secret: false },
      { name: 'name' },
    ];
    expect(secretValues(vars, specs).sort()).toEqual(['98765', 'hunter2!', 'tok-123456']);
  });

  it('ignores values too short to search for', () => {
    expect(secretValues({ pw: 'ab' }, [{ name: 'pw', secret: true }])).toEqual([]);
    expect(MIN_SECRET_CHARS).toBe(3);
  });
});

describe('createRedactor', () => {
  const redact = createRedactor(['hunter2!', 'hunter2!-longer', 'with "quote"\nline']);

  it('replaces secret values anywhere in a text, the longest first', () => {
    expect(redact.text('password is hunter2!-longer and hunter2!')).toBe(`password is ${REDACTED} and ${REDACTED}`);
  });

  it('replaces the JSON-escaped form of a secret (as it appears in a module message)', () => {
    expect(redact.text('{"msg": "with \\"quote\\"\\nline"}')).toBe(`{"msg": "${REDACTED}"}`);
  });

  it('replaces regex-special secrets literally', () => {
    expect(createRedactor(['a.b*c(d']).text('x a.b*c(d y aXbbc(d')).toBe(`x ${REDACTED} y aXbbc(d`);
  });

  it('walks JSON values: strings in arrays and objects, keys too; other types kept', () => {
    const value = { msg: 'got hunter2!', list: ['hunter2!', 7, true, null], nested: { 'hunter2!': 'k' } };
    expect(redact.value(value)).toEqual({ msg: `got ${REDACTED}`, list: [REDACTED, 7, true, null], nested: { [REDACTED]: 'k' } });
    expect(value.msg).toBe('got hunter2!'); // a copy
  });

  it('hides vault payloads and bearer tokens without being told about them', () => {
    const vault = '$ANSIBLE_VAULT;1.1;AES256\n  6138373633396566\n  3533383462303263';
    expect(redactPatterns.text(`value: ${vault}\nnext: line`)).toBe(`value: ${REDACTED}\nnext: line`);
    expect(redactPatterns.text('"$ANSIBLE_VAULT;1.1;AES256\\n61383736\\n35333834"')).toBe(`"${REDACTED}"`);
    expect(redactPatterns.text('curl -H "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc.def"')).toBe(
      `curl -H "Authorization: Bearer ${REDACTED}"`,
    );
    expect(redactPatterns.text('authorization=abcdef123456 rest')).toBe(`authorization=${REDACTED} rest`);
    expect(redactPatterns.text('nothing secret here: ok')).toBe('nothing secret here: ok');
  });

  it("leaves Ansible's own no_log censoring as it is", () => {
    const censored = "the output has been hidden due to the fact that 'no_log: true' was specified for this result";
    expect(redact.text(censored)).toBe(censored);
  });
});

describe('redactPlanVars', () => {
  const plan = {
    planId: 'p',
    steps: [
      { playbook: 'a.yml', vars: { port: 3001, api_token: 'tok', admin: 'root-pw' } },
      { playbook: 'unknown.yml', vars: { port: 1 } },
    ],
  };

  it('hides the values of vars marked secret or named like secrets; an unknown playbook hides all', () => {
    const specs: Record<string, { name: string; secret?: boolean }[]> = { 'a.yml': [{ name: 'admin', secret: true }, { name: 'port' }] };
    const stored = redactPlanVars(plan, (playbook) => specs[playbook]);
    expect(stored.steps.map((s) => s.vars)).toEqual([{ port: 3001, api_token: REDACTED, admin: REDACTED }, { port: REDACTED }]);
    expect(plan.steps[0]!.vars.admin).toBe('root-pw'); // a copy
  });

  it("takes a step's own secretVars over the playbook's specs, and still hides secret-looking names", () => {
    const step = { playbook: 'a.yml', vars: { port: 3001, api_token: 'tok', admin: 'root-pw' }, secretVars: ['port'] };
    const specsOf = () => [{ name: 'admin', secret: true }];
    expect(secretVarNames(step, specsOf)).toEqual(['port', 'api_token']);
    expect(redactPlanVars({ steps: [step] }).steps[0]!.vars).toEqual({ port: REDACTED, api_token: REDACTED, admin: 'root-pw' });
    expect(secretVarNames({ ...step, secretVars: undefined }, specsOf)).toEqual(['api_token', 'admin']);
    expect(secretVarNames({ ...step, secretVars: undefined })).toEqual(['port', 'api_token', 'admin']);
  });

  it('recognizes secret-looking names', () => {
    for (const name of ['password', 'db_password', 'admin_pass', 'api_key', 'apikey', 'vault_pw_file', 'client_secret', 'token']) {
      expect(isSecretVar(name, []), name).toBe(true);
    }
    for (const name of ['kuma_port', 'passage', 'kuma_monitors', 'compass']) expect(isSecretVar(name, []), name).toBe(false);
  });
});

describe('values copied from the inventory', () => {
  const step = {
    playbook: 'kuma-config-update.yml',
    vars: {
      kuma_monitors: [
        { name: 'portal-1', portal_url: 'https://portal-1.lan', admin_token: 'tok-portal-1-secret' },
        { name: 'nas', auth: { password: 'nas-pass-123' } },
      ],
    },
    secretVars: [],
  };

  it('hide what sits under a key named like a secret, at any depth, when a plan is shown or stored', () => {
    const [shown] = redactPlanVars({ steps: [step] }).steps;
    expect(shown!.vars).toEqual({
      kuma_monitors: [
        { name: 'portal-1', portal_url: 'https://portal-1.lan', admin_token: REDACTED },
        { name: 'nas', auth: { password: REDACTED } },
      ],
    });
  });

  it('are secret values of the step, so its output hides them too', () => {
    const values = secretValues(step.vars, []);
    expect(values).toEqual(expect.arrayContaining(['tok-portal-1-secret', 'nas-pass-123']));
    expect(values).not.toContain('portal-1');
    expect(createRedactor(values).text('login with tok-portal-1-secret failed')).toBe(`login with ${REDACTED} failed`);
  });
});
