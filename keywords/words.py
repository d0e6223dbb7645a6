"""A worker process for `keywords.shard.all_words`: reads (texts, confusions) pickled on stdin,
writes their index words pickled on stdout."""

import pickle
import sys

from callscope.keywords.shard import words


def main() -> None:
    texts, confusions = pickle.load(sys.stdin.buffer)
    pickle.dump([words(text, confusions) for text in texts], sys.stdout.buffer)


if __name__ == "__main__":
    main()
