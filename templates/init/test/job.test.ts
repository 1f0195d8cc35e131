import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createJob } from '../src/job.js';

test('the job greets the name it is given', async () => {
  const job = createJob();
  assert.equal(job.greeting.render('Ada'), 'Hello, Ada!');
  await job.run({ name: 'Ada' });
});

test('the job fails when asked to', async () => {
  await assert.rejects(createJob().run({ fail: true }), /failing as asked/);
});
