"""The speech corpus the transcript analysis is measured on (issue 15), fixed before any
tuning: everyday sentences in English and German, each spoken by every voice of its
language at every speed. Numbers are written as words, as a transcript should read them.

Plain data; tests/analyzers/test_speech_corpus.py and bench/speech_corpus.py speak it
with espeak-ng (tests/analyzers/speech_media.py) and score what comes back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.analyzers.speech_media import sentence_spans, speech_with_pauses

ENGLISH = (
    "I would like a cup of coffee with milk please",
    "The train to the city leaves at nine in the morning",
    "My sister lives in a small house near the river",
    "Could you tell me where the nearest bank is",
    "We had fish and potatoes for dinner last night",
    "The children are playing football in the park",
    "Please close the window because it is cold outside",
    "I forgot my keys at the office yesterday",
    "The weather will be sunny and warm tomorrow",
    "He reads the newspaper every day after breakfast",
    "Our neighbours bought a new car last week",
    "The doctor said I should drink more water",
    "Can you help me carry these boxes upstairs",
    "The shop on the corner opens at eight o'clock",
    "She is learning to play the piano at school",
    "We are going to visit our grandparents this weekend",
    "The meeting has been moved to Thursday afternoon",
    "I need to buy bread, eggs and apples at the market",
    "The bus was late again this morning",
    "Thank you very much for your kind letter",
    "My brother works as a teacher in a big school",
    "Let us take a walk before it gets dark",
)

GERMAN = (
    "Ich hätte gern eine Tasse Kaffee mit Milch",
    "Der Zug nach Berlin fährt um neun Uhr ab",
    "Meine Schwester wohnt in einem kleinen Haus am Fluss",
    "Können Sie mir sagen, wo der Bahnhof ist",
    "Wir haben gestern Abend Fisch und Kartoffeln gegessen",
    "Die Kinder spielen im Garten mit dem Ball",
    "Bitte mach das Fenster zu, draußen ist es kalt",
    "Ich habe meinen Schlüssel im Büro vergessen",
    "Morgen wird das Wetter schön und warm",
    "Er liest jeden Morgen die Zeitung beim Frühstück",
    "Unsere Nachbarn haben ein neues Auto gekauft",
    "Der Arzt sagt, ich soll mehr Wasser trinken",
    "Kannst du mir helfen, die Kisten zu tragen",
    "Der Laden an der Ecke öffnet um acht Uhr",
    "Sie lernt in der Schule Klavier spielen",
    "Am Wochenende besuchen wir unsere Großeltern",
    "Die Besprechung ist auf Donnerstag verschoben",
    "Ich muss noch Brot, Eier und Äpfel kaufen",
    "Der Bus ist heute schon wieder zu spät gekommen",
    "Vielen Dank für deinen netten Brief",
    "Mein Bruder arbeitet als Lehrer an einer großen Schule",
    "Wir gehen spazieren, bevor es dunkel wird",
)

SENTENCES = {"en": ENGLISH, "de": GERMAN}

# espeak-ng voices (mbrola voices are not installed): a male and a female variant of each
# language, and for English two accents.
VOICES = {"en": ("en-us", "en-gb+f3"), "de": ("de", "de+f3")}
SPEEDS = (140, 175)  # words per minute: espeak-ng's default and a brisk pace

# Word error rate the transcript must stay within over the whole corpus (issue 15).
MAX_WER = {"en": 0.15, "de": 0.25}


def recordings() -> list[tuple[str, str, int]]:
    """Every (language, voice, speed) the corpus is spoken in."""
    return [
        (language, voice, speed)
        for language, voices in VOICES.items()
        for voice in voices
        for speed in SPEEDS
    ]


# --- scoring --------------------------------------------------------------------------

_ONES = {
    "en": ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
           "ten", "eleven", "twelve"),
    "de": ("null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun",
           "zehn", "elf", "zwölf"),
}


def normalised_words(text: str, language: str) -> list[str]:
    """Lowercase words without punctuation; a number up to twelve as its word (the corpus
    writes them so, Whisper often writes digits)."""
    cleaned = "".join(c if c.isalnum() or c.isspace() else " " for c in
                      text.lower().replace("'", "").replace("\u2019", ""))
    ones = _ONES[language]
    return [ones[int(w)] if w.isdigit() and int(w) < len(ones) else w for w in cleaned.split()]


def word_errors(reference: list[str], heard: list[str]) -> int:
    """Substitutions, deletions and insertions turning ``reference`` into ``heard``: the
    word-level Levenshtein distance."""
    previous = list(range(len(heard) + 1))
    for i, expected in enumerate(reference, start=1):
        current = [i]
        for j, word in enumerate(heard, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (expected != word)))
        previous = current
    return previous[-1]


PAUSE_S = 1.0  # between the sentences of one recording


def recorded(folder: Path, language: str, voice: str, speed: int
             ) -> tuple[Path, list[tuple[float, float]]]:
    """All sentences of a language by one voice at one speed in one WAV, PAUSE_S apart,
    and where each sentence lies in it."""
    name = f"{language}-{voice.replace('+', '_')}-{speed}.wav"
    path = speech_with_pauses(Path(folder) / name, list(SENTENCES[language]), PAUSE_S,
                              voice, speed)
    spans = sentence_spans(path, min_pause_s=PAUSE_S / 2)
    if len(spans) != len(SENTENCES[language]):
        raise AssertionError(f"{path}: {len(spans)} sentences found in the sound, not "
                             f"{len(SENTENCES[language])}")
    return path, spans


@dataclass
class Score:
    """Errors over the reference words, and the sentences heard in the right language."""

    errors: int = 0
    words: int = 0
    clips: int = 0
    right_language: int = 0
    wrong: list[str] | None = None  # "sentence -> what was heard", for the failure message

    @property
    def wer(self) -> float:
        return self.errors / self.words if self.words else 0.0

    def add(self, other: Score) -> None:
        self.errors += other.errors
        self.words += other.words
        self.clips += other.clips
        self.right_language += other.right_language
        self.wrong = (self.wrong or []) + (other.wrong or [])


def scored(result: dict[str, Any], spans: list[tuple[float, float]], language: str) -> Score:
    """A transcript of a ``recorded`` file against its sentences: each word belongs to the
    sentence nearest its middle; a sentence is in the right language when all its words
    are (a sentence with no word heard is not)."""
    heard: list[list[dict[str, Any]]] = [[] for _ in spans]
    for word in result["words"]:
        middle = (word["start_s"] + word["end_s"]) / 2
        nearest = min(range(len(spans)), key=lambda i: _distance(middle, spans[i]))
        heard[nearest].append(word)
    score = Score(wrong=[])
    for sentence, words in zip(SENTENCES[language], heard, strict=True):
        reference = normalised_words(sentence, language)
        said = normalised_words(" ".join(w["word"] for w in words), language)
        errors = word_errors(reference, said)
        right = bool(words) and all(w["language"] == language for w in words)
        score.add(Score(errors, len(reference), 1, int(right)))
        if errors or not right:
            languages = sorted({w["language"] for w in words})
            score.wrong.append(f"{sentence!r} -> {' '.join(said)!r} {languages}")
    return score


def _distance(time_s: float, span: tuple[float, float]) -> float:
    return max(span[0] - time_s, time_s - span[1], 0.0)
