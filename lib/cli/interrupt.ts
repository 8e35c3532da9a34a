// Ctrl-C for long measurements: the first SIGINT asks the job to stop after its current
// step (it then returns what it has, which the verb prints and writes); a second one
// quits at once. The exit status is 130 either way, as for a shell-interrupted command.

export async function interruptible<T>(job: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write('\nmlxk: interrupted; finishing the current step and keeping the results so far (Ctrl-C again to quit at once)\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    return await job(controller.signal);
  } finally {
    process.off('SIGINT', onSigint);
    if (controller.signal.aborted) process.exitCode = 130;
  }
}
