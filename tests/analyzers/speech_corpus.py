"""The speech corpus the transcript analysis is measured on (issue 15), fixed before any
tuning: everyday sentences in English and German, each spoken by every voice of its
language at every speed. Numbers are written as words, as a transcript should read them.

Plain data; tests/analyzers/test_speech_corpus.py and bench/speech_corpus.py speak it
with espeak-ng (tests/analyzers/speech_media.py) and score what comes back.
"""

from __future__ import annotations

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
