// An ISR page: rendered on its first request, then cached (by Next, and by isr in front of
// it) for an hour. Its data is a fetch tagged `posts`.
export const revalidate = 3600;
export const dynamicParams = true;

export async function generateStaticParams() {
  return [];
}

export default async function Post({ params }) {
  const { id } = await params;
  const answer = await fetch(`${process.env.DATA_URL}/posts`, { next: { tags: ['posts'], revalidate: 3600 } });
  const posts = await answer.text();
  return (
    <main>
      <p id="post">{`post ${id}`}</p>
      <p id="data">{`posts=${posts}`}</p>
      <p id="instance">{`instance=${process.env.INSTANCE}`}</p>
    </main>
  );
}
