/** A small part of the job: configured on your machine, delivered with the job, used where it runs. */
export class Greeting {
  constructor(readonly word: string) {}

  render(name: string): string {
    return `${this.word}, ${name}!`;
  }
}
