import { addOutput, emptyOutput, hasOutput, outputText } from '../output';
import { event } from './fakes';

function output(stream: string, text: string, seq: number) {
  return event('output', { stream, text, seq });
}

describe('a fit output', () => {
  it('keeps the text of both streams in arrival order, a run of one stream as one chunk', () => {
    let out = emptyOutput();
    out = addOutput(out, output('stdout', 'step 1\n', 0));
    out = addOutput(out, output('stdout', 'step 2\n', 1));
    out = addOutput(out, output('stderr', 'warning: slow\n', 2));
    out = addOutput(out, output('stdout', 'done\n', 3));
    expect(out.chunks).toEqual([
      { stream: 'stdout', text: 'step 1\nstep 2\n' },
      { stream: 'stderr', text: 'warning: slow\n' },
      { stream: 'stdout', text: 'done\n' }
    ]);
    expect(outputText(out)).toBe('step 1\nstep 2\nwarning: slow\ndone\n');
    expect(out.truncated).toBe(false);
  });

  it('says when the worker cut the rest off', () => {
    let out = addOutput(emptyOutput(), output('stdout', 'x'.repeat(10), 0));
    out = addOutput(
      out,
      event('output', { stream: 'stderr', text: '', truncated: true })
    );
    expect(out.truncated).toBe(true);
    expect(outputText(out)).toBe('x'.repeat(10));
    expect(hasOutput(out)).toBe(true);
  });

  it('is nothing for a job that printed nothing', () => {
    let out = emptyOutput();
    const before = out;
    out = addOutput(out, event('progress', { step: 1, rows: [[1]] }));
    out = addOutput(out, event('status', { status: 'succeeded' }));
    out = addOutput(out, output('stdout', '', 0));
    expect(out).toBe(before);
    expect(hasOutput(out)).toBe(false);
  });

  it('shows text of a stream it does not know as stderr, and ignores text that is not text', () => {
    let out = addOutput(emptyOutput(), output('stdin', 'odd\n', 0));
    out = addOutput(out, event('output', { stream: 'stdout', text: { a: 1 } }));
    expect(out.chunks).toEqual([{ stream: 'stderr', text: 'odd\n' }]);
  });
});
