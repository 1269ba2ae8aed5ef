<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="de_DE">
<context>
    <name>HistoryFile</name>
    <message>
        <location filename="../../app/desktop/HistoryFile.cpp" line="20"/>
        <source>%1 could not be read (%2) and was not kept; a fresh history starts.</source>
        <translation>%1 konnte nicht gelesen werden (%2) und wurde nicht aufbewahrt; ein neuer Verlauf beginnt.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/HistoryFile.cpp" line="23"/>
        <source>%1 could not be read (%2); it was kept as %3 and a fresh history starts.</source>
        <translation>%1 konnte nicht gelesen werden (%2); die Datei wurde als %3 aufbewahrt und ein neuer Verlauf beginnt.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/HistoryFile.cpp" line="38"/>
        <source>larger than %1 MiB</source>
        <translation>größer als %1 MiB</translation>
    </message>
    <message>
        <location filename="../../app/desktop/HistoryFile.cpp" line="42"/>
        <source>%1 could not be opened (%2); the history starts empty.</source>
        <translation>%1 konnte nicht geöffnet werden (%2); der Verlauf beginnt leer.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/HistoryFile.cpp" line="56"/>
        <source>not a list</source>
        <translation>keine Liste</translation>
    </message>
    <message>
        <location filename="../../app/desktop/HistoryFile.cpp" line="62"/>
        <source>an entry is not an object</source>
        <translation>ein Eintrag ist kein Objekt</translation>
    </message>
    <message>
        <location filename="../../app/desktop/HistoryFile.cpp" line="72"/>
        <source>cannot create the folder of %1</source>
        <translation>der Ordner von %1 kann nicht angelegt werden</translation>
    </message>
</context>
<context>
    <name>Notifier</name>
    <message>
        <location filename="../../app/desktop/Notifier.cpp" line="28"/>
        <source>DeCLAI needs you</source>
        <translation>DeCLAI braucht dich</translation>
    </message>
    <message>
        <location filename="../../app/desktop/Notifier.cpp" line="33"/>
        <source>Your computer is contributing</source>
        <translation>Dein Computer rechnet mit</translation>
    </message>
    <message>
        <location filename="../../app/desktop/Notifier.cpp" line="34"/>
        <source>DeCLAI is computing for the network. Right-click the tray icon to snooze.</source>
        <translation>DeCLAI rechnet für das Netzwerk. Rechtsklick auf das Symbol in der Leiste, um zu pausieren.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/Notifier.cpp" line="41"/>
        <source>Milestone</source>
        <translation>Meilenstein</translation>
    </message>
    <message>
        <location filename="../../app/desktop/Notifier.cpp" line="42"/>
        <source>This computer has served %1 layer-tokens.</source>
        <translation>Dieser Computer hat %1 Schicht-Token berechnet.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/Notifier.cpp" line="54"/>
        <source>First credits earned</source>
        <translation>Erste Credits verdient</translation>
    </message>
    <message>
        <location filename="../../app/desktop/Notifier.cpp" line="55"/>
        <source>Your balance is now %1 credits. Spend them on the Prompt page.</source>
        <translation>Dein Guthaben beträgt jetzt %1 Credits. Du kannst sie auf der Seite „Prompt“ ausgeben.</translation>
    </message>
</context>
<context>
    <name>TrayPresenter</name>
    <message>
        <location filename="../../app/desktop/TrayPresenter.cpp" line="22"/>
        <source>running on battery</source>
        <translation>läuft im Akkubetrieb</translation>
    </message>
    <message>
        <location filename="../../app/desktop/TrayPresenter.cpp" line="24"/>
        <source>you are using the computer</source>
        <translation>du benutzt den Computer</translation>
    </message>
    <message>
        <location filename="../../app/desktop/TrayPresenter.cpp" line="26"/>
        <source>a full-screen application is running</source>
        <translation>eine Vollbildanwendung läuft</translation>
    </message>
    <message>
        <location filename="../../app/desktop/TrayPresenter.cpp" line="28"/>
        <source>outside your schedule</source>
        <translation>außerhalb deines Zeitplans</translation>
    </message>
    <message>
        <location filename="../../app/desktop/TrayPresenter.cpp" line="41"/>
        <source>Not contributing (stopped)</source>
        <translation>Rechnet nicht mit (gestoppt)</translation>
    </message>
    <message>
        <location filename="../../app/desktop/TrayPresenter.cpp" line="46"/>
        <source>Connecting to %1…</source>
        <translation>Verbinde mit %1 …</translation>
    </message>
    <message>
        <location filename="../../app/desktop/TrayPresenter.cpp" line="46"/>
        <source>the server</source>
        <translation>dem Server</translation>
    </message>
    <message>
        <location filename="../../app/desktop/TrayPresenter.cpp" line="52"/>
        <source>Idle — downloading a shard of %1 (%2%)</source>
        <translation>Untätig — lade einen Teil von %1 (%2 %)</translation>
    </message>
    <message>
        <location filename="../../app/desktop/TrayPresenter.cpp" line="56"/>
        <source>Idle — connected, waiting for work</source>
        <translation>Untätig — verbunden, wartet auf Arbeit</translation>
    </message>
    <message>
        <location filename="../../app/desktop/TrayPresenter.cpp" line="61"/>
        <source>Computing — %1 tokens/s</source>
        <translation>Rechnet — %1 Token/s</translation>
    </message>
    <message>
        <location filename="../../app/desktop/TrayPresenter.cpp" line="69"/>
        <source>Paused by your schedule until %1</source>
        <translation>Pausiert durch deinen Zeitplan bis %1</translation>
    </message>
    <message>
        <location filename="../../app/desktop/TrayPresenter.cpp" line="70"/>
        <source>Paused by your schedule</source>
        <translation>Pausiert durch deinen Zeitplan</translation>
    </message>
    <message>
        <location filename="../../app/desktop/TrayPresenter.cpp" line="78"/>
        <source>Paused by a rule</source>
        <translation>Pausiert durch eine Regel</translation>
    </message>
    <message>
        <location filename="../../app/desktop/TrayPresenter.cpp" line="78"/>
        <source>Paused: %1</source>
        <translation>Pausiert: %1</translation>
    </message>
    <message>
        <location filename="../../app/desktop/TrayPresenter.cpp" line="84"/>
        <source>Snoozed until %1</source>
        <translation>Schlummert bis %1</translation>
    </message>
    <message>
        <location filename="../../app/desktop/TrayPresenter.cpp" line="85"/>
        <source>Snoozed</source>
        <translation>Schlummert</translation>
    </message>
    <message>
        <location filename="../../app/desktop/TrayPresenter.cpp" line="90"/>
        <source>Stopping — finishing running requests</source>
        <translation>Hält an — beendet laufende Anfragen</translation>
    </message>
    <message>
        <location filename="../../app/desktop/TrayPresenter.cpp" line="95"/>
        <source>Paused until you resume</source>
        <translation>Pausiert, bis du fortsetzt</translation>
    </message>
    <message numerus="yes">
        <location filename="../../app/desktop/TrayPresenter.cpp" line="103"/>
        <source>Disconnected — reconnecting in %n s</source>
        <translation>
            <numerusform>Getrennt — neuer Versuch in %n s</numerusform>
            <numerusform>Getrennt — neuer Versuch in %n s</numerusform>
        </translation>
    </message>
    <message>
        <location filename="../../app/desktop/TrayPresenter.cpp" line="104"/>
        <source>Disconnected — reconnecting</source>
        <translation>Getrennt — verbindet neu</translation>
    </message>
    <message>
        <location filename="../../app/desktop/TrayPresenter.cpp" line="109"/>
        <source>Error</source>
        <translation>Fehler</translation>
    </message>
    <message>
        <location filename="../../app/desktop/TrayPresenter.cpp" line="109"/>
        <source>Error: %1</source>
        <translation>Fehler: %1</translation>
    </message>
    <message>
        <location filename="../../app/desktop/TrayPresenter.cpp" line="112"/>
        <source>DeCLAI</source>
        <translation>DeCLAI</translation>
    </message>
    <message>
        <location filename="../../app/desktop/TrayPresenter.cpp" line="116"/>
        <source>Open the dashboard (Account &amp; settings) to fix it.</source>
        <translation>Öffne das Dashboard (Konto &amp; Einstellungen), um es zu beheben.</translation>
    </message>
</context>
<context>
    <name>declai::desktop::ApiClient</name>
    <message>
        <location filename="../../app/desktop/ApiClient.cpp" line="291"/>
        <source>the server&apos;s credit answer was empty</source>
        <translation>die Guthaben-Antwort des Servers war leer</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ApiClient.cpp" line="356"/>
        <source>the server&apos;s quote had no cost</source>
        <translation>das Angebot des Servers nannte keine Kosten</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ApiClient.cpp" line="380"/>
        <source>the server created no key</source>
        <translation>der Server hat keinen Schlüssel erzeugt</translation>
    </message>
</context>
<context>
    <name>declai::desktop::CompletionStream</name>
    <message>
        <location filename="../../app/desktop/ApiClient.cpp" line="53"/>
        <source>the server sent an event larger than 4 MiB</source>
        <translation>der Server hat ein Ereignis über 4 MiB gesendet</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ApiClient.cpp" line="67"/>
        <source>unreadable event from the server: %1</source>
        <translation>unlesbares Ereignis vom Server: %1</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ApiClient.cpp" line="120"/>
        <source>the stream ended before [DONE]</source>
        <translation>der Datenstrom endete vor [DONE]</translation>
    </message>
</context>
<context>
    <name>declai::desktop::ContributePage</name>
    <message>
        <location filename="../../app/desktop/ContributePage.cpp" line="27"/>
        <source>&lt;h2&gt;Contribute&lt;/h2&gt;</source>
        <translation>&lt;h2&gt;Mitrechnen&lt;/h2&gt;</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ContributePage.cpp" line="29"/>
        <location filename="../../app/desktop/ContributePage.cpp" line="40"/>
        <source>Devices</source>
        <translation>Geräte</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ContributePage.cpp" line="33"/>
        <source>Use</source>
        <translation>Nutzen</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ContributePage.cpp" line="33"/>
        <source>Device</source>
        <translation>Gerät</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ContributePage.cpp" line="33"/>
        <source>Type</source>
        <translation>Art</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ContributePage.cpp" line="33"/>
        <source>Memory</source>
        <translation>Speicher</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ContributePage.cpp" line="33"/>
        <source>Benchmark</source>
        <translation>Leistungstest</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ContributePage.cpp" line="33"/>
        <source>Measured</source>
        <translation>Gemessen</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ContributePage.cpp" line="44"/>
        <source>&amp;Benchmark selected device</source>
        <translation>Ausgewähltes Gerät &amp;testen</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ContributePage.cpp" line="45"/>
        <source>&amp;Cancel</source>
        <translation>&amp;Abbrechen</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ContributePage.cpp" line="59"/>
        <source>Limits</source>
        <translation>Grenzen</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ContributePage.cpp" line="63"/>
        <source>all cores</source>
        <translation>alle Kerne</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ContributePage.cpp" line="64"/>
        <source>CPU &amp;threads:</source>
        <translation>CPU-&amp;Threads:</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ContributePage.cpp" line="67"/>
        <location filename="../../app/desktop/ContributePage.cpp" line="72"/>
        <source> GiB</source>
        <translation> GiB</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ContributePage.cpp" line="68"/>
        <source>automatic (half of RAM / device memory)</source>
        <translation>automatisch (halber Arbeits- bzw. Gerätespeicher)</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ContributePage.cpp" line="69"/>
        <source>&amp;Memory for models:</source>
        <translation>&amp;Speicher für Modelle:</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ContributePage.cpp" line="73"/>
        <source>&amp;Disk for cached shards:</source>
        <translation>&amp;Platte für zwischengespeicherte Teile:</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ContributePage.cpp" line="76"/>
        <source>Shards this computer serves</source>
        <translation>Modellteile, die dieser Computer bereitstellt</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ContributePage.cpp" line="79"/>
        <source>Model</source>
        <translation>Modell</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ContributePage.cpp" line="79"/>
        <source>Layers</source>
        <translation>Schichten</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ContributePage.cpp" line="79"/>
        <source>Size</source>
        <translation>Größe</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ContributePage.cpp" line="79"/>
        <source>Sessions served</source>
        <translation>Bediente Sitzungen</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ContributePage.cpp" line="83"/>
        <source>Shards</source>
        <translation>Modellteile</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ContributePage.cpp" line="85"/>
        <source>None yet — the server places shards on nodes once they are connected.</source>
        <translation>Noch keine — der Server verteilt Modellteile an Knoten, sobald sie verbunden sind.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ContributePage.cpp" line="101"/>
        <source>Measuring %1…</source>
        <translation>Messe %1 …</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ContributePage.cpp" line="106"/>
        <source>Cancelling…</source>
        <translation>Breche ab …</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ContributePage.cpp" line="152"/>
        <source>Use %1</source>
        <translation>%1 nutzen</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ContributePage.cpp" line="156"/>
        <source>%1 — not usable: %2</source>
        <translation>%1 — nicht nutzbar: %2</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ContributePage.cpp" line="158"/>
        <source>%1 (%2, driver %3)</source>
        <translation>%1 (%2, Treiber %3)</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ContributePage.cpp" line="169"/>
        <source>%1 GFLOP/s f16 · %2 GB/s</source>
        <translation>%1 GFLOP/s f16 · %2 GB/s</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ContributePage.cpp" line="172"/>
        <source>not measured</source>
        <translation>nicht gemessen</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ContributePage.cpp" line="177"/>
        <source> (re-run due)</source>
        <translation> (erneuter Test fällig)</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ContributePage.cpp" line="200"/>
        <source>%1 measured.</source>
        <translation>%1 gemessen.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ContributePage.cpp" line="204"/>
        <source>Benchmark of %1 did not finish: %2</source>
        <translation>Leistungstest von %1 nicht beendet: %2</translation>
    </message>
    <message>
        <location filename="../../app/desktop/ContributePage.cpp" line="254"/>
        <source>%1–%2</source>
        <translation>%1–%2</translation>
    </message>
</context>
<context>
    <name>declai::desktop::DesktopApp</name>
    <message>
        <location filename="../../app/desktop/DesktopApp.cpp" line="105"/>
        <source>Prompt history: %1</source>
        <translation>Prompt-Verlauf: %1</translation>
    </message>
    <message>
        <location filename="../../app/desktop/DesktopApp.cpp" line="110"/>
        <source>Work history: %1</source>
        <translation>Arbeitsverlauf: %1</translation>
    </message>
    <message>
        <location filename="../../app/desktop/DesktopApp.cpp" line="152"/>
        <source>Overview</source>
        <translation>Übersicht</translation>
    </message>
    <message>
        <location filename="../../app/desktop/DesktopApp.cpp" line="153"/>
        <source>Contribute</source>
        <translation>Mitrechnen</translation>
    </message>
    <message>
        <location filename="../../app/desktop/DesktopApp.cpp" line="154"/>
        <source>Schedule</source>
        <translation>Zeitplan</translation>
    </message>
    <message>
        <location filename="../../app/desktop/DesktopApp.cpp" line="155"/>
        <source>Prompt</source>
        <translation>Prompt</translation>
    </message>
    <message>
        <location filename="../../app/desktop/DesktopApp.cpp" line="156"/>
        <source>Account &amp; settings</source>
        <translation>Konto &amp; Einstellungen</translation>
    </message>
    <message>
        <location filename="../../app/desktop/DesktopApp.cpp" line="172"/>
        <source>This desktop has no system tray, so DeCLAI shows this window instead. Closing it quits DeCLAI and stops contributing.</source>
        <translation>Diese Arbeitsumgebung hat keine Systemleiste, deshalb zeigt DeCLAI stattdessen dieses Fenster. Wenn du es schließt, wird DeCLAI beendet und rechnet nicht mehr mit.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/DesktopApp.cpp" line="176"/>
        <source>Your settings could not be read (%1); the defaults are shown.</source>
        <translation>Deine Einstellungen konnten nicht gelesen werden (%1); die Vorgaben werden angezeigt.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/DesktopApp.cpp" line="180"/>
        <source>Contributing stopped: %1</source>
        <translation>Mitrechnen angehalten: %1</translation>
    </message>
    <message>
        <location filename="../../app/desktop/DesktopApp.cpp" line="206"/>
        <source>No identity to export yet (%1).</source>
        <translation>Noch keine Identität zum Exportieren (%1).</translation>
    </message>
    <message>
        <location filename="../../app/desktop/DesktopApp.cpp" line="213"/>
        <source>Identity exported to %1. Keep it private: it is this computer&apos;s key.</source>
        <translation>Identität nach %1 exportiert. Halte sie geheim: Sie ist der Schlüssel dieses Computers.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/DesktopApp.cpp" line="215"/>
        <source>Export failed: %1</source>
        <translation>Export fehlgeschlagen: %1</translation>
    </message>
    <message>
        <location filename="../../app/desktop/DesktopApp.cpp" line="236"/>
        <source>Cannot read %1.</source>
        <translation>%1 kann nicht gelesen werden.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/DesktopApp.cpp" line="238"/>
        <source>Not an identity key: %1</source>
        <translation>Kein Identitätsschlüssel: %1</translation>
    </message>
    <message>
        <location filename="../../app/desktop/DesktopApp.cpp" line="241"/>
        <source>Identity %1 imported; contributing restarts with it.</source>
        <translation>Identität %1 importiert; das Mitrechnen startet damit neu.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/DesktopApp.cpp" line="259"/>
        <source>Import failed: %1</source>
        <translation>Import fehlgeschlagen: %1</translation>
    </message>
    <message>
        <location filename="../../app/desktop/DesktopApp.cpp" line="325"/>
        <source>Setup was not finished, so this computer does not contribute yet. Set a server in Account &amp; settings and press Apply.</source>
        <translation>Die Einrichtung wurde nicht abgeschlossen, deshalb rechnet dieser Computer noch nicht mit. Wähle unter Konto &amp; Einstellungen einen Server und klicke auf Übernehmen.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/DesktopApp.cpp" line="335"/>
        <source>No server is set: choose one in Account &amp; settings.</source>
        <translation>Kein Server eingestellt: Wähle einen unter Konto &amp; Einstellungen.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/DesktopApp.cpp" line="361"/>
        <source>Not started: %1</source>
        <translation>Nicht gestartet: %1</translation>
    </message>
    <message>
        <location filename="../../app/desktop/DesktopApp.cpp" line="392"/>
        <source>This computer&apos;s identity cannot be loaded: %1</source>
        <translation>Die Identität dieses Computers kann nicht geladen werden: %1</translation>
    </message>
    <message>
        <location filename="../../app/desktop/DesktopApp.cpp" line="408"/>
        <source>This computer is now linked to account %1: its verified earnings go there from now on.</source>
        <translation>Dieser Computer ist jetzt mit dem Konto %1 verknüpft: Seine geprüften Einnahmen gehen ab jetzt dorthin.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/DesktopApp.cpp" line="430"/>
        <source>This computer could not be linked to the account of the new key yet (%1). DeCLAI tries again in a minute.</source>
        <translation>Dieser Computer konnte noch nicht mit dem Konto des neuen Schlüssels verknüpft werden (%1). DeCLAI versucht es in einer Minute erneut.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/DesktopApp.cpp" line="433"/>
        <source>This computer could not be linked to your account yet (%1). DeCLAI tries again in a minute; contributing starts once it is linked.</source>
        <translation>Dieser Computer konnte noch nicht mit deinem Konto verknüpft werden (%1). DeCLAI versucht es in einer Minute erneut; das Mitrechnen beginnt, sobald er verknüpft ist.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/DesktopApp.cpp" line="449"/>
        <source>the account it was linked to first</source>
        <translation>dem Konto, mit dem er zuerst verknüpft wurde</translation>
    </message>
    <message>
        <location filename="../../app/desktop/DesktopApp.cpp" line="450"/>
        <source>account %1, the one it was linked to first</source>
        <translation>dem Konto %1, mit dem er zuerst verknüpft wurde</translation>
    </message>
    <message>
        <location filename="../../app/desktop/DesktopApp.cpp" line="452"/>
        <source>This computer stays linked to %1, so its verified earnings keep going there. The ledger refuses to move a computer to another account, so that nobody can redirect its earnings. Prompts are paid from the account of the key in Account &amp; settings. To earn for that account, ask the server&apos;s operator to unbind this computer (declai-server node unbind %2) and press Apply again, or go back to the earlier key.
The server said: %3</source>
        <translation>Dieser Computer bleibt mit %1 verknüpft, seine geprüften Einnahmen gehen weiter dorthin. Das Kassenbuch verschiebt keinen Computer auf ein anderes Konto, damit niemand seine Einnahmen umleiten kann. Prompts werden vom Konto des Schlüssels unter Konto &amp; Einstellungen bezahlt. Um für dieses Konto zu verdienen, bitte den Betreiber des Servers, diesen Computer zu lösen (declai-server node unbind %2), und klicke erneut auf Übernehmen – oder kehre zum früheren Schlüssel zurück.
Der Server meldete: %3</translation>
    </message>
</context>
<context>
    <name>declai::desktop::FirstRunWizard</name>
    <message>
        <location filename="../../app/desktop/FirstRunWizard.cpp" line="36"/>
        <source>Creating your account…</source>
        <translation>Dein Konto wird angelegt …</translation>
    </message>
    <message>
        <location filename="../../app/desktop/FirstRunWizard.cpp" line="45"/>
        <source>Account created. Its key is kept in your data folder.</source>
        <translation>Konto angelegt. Sein Schlüssel liegt in deinem Datenordner.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/FirstRunWizard.cpp" line="60"/>
        <source>Welcome to DeCLAI</source>
        <translation>Willkommen bei DeCLAI</translation>
    </message>
    <message>
        <location filename="../../app/desktop/FirstRunWizard.cpp" line="68"/>
        <source>Step 1 of 4 — Which network do you join?</source>
        <translation>Schritt 1 von 4 — Welchem Netzwerk trittst du bei?</translation>
    </message>
    <message>
        <location filename="../../app/desktop/FirstRunWizard.cpp" line="69"/>
        <source>DeCLAI runs language models on volunteers&apos; computers.</source>
        <translation>DeCLAI lässt Sprachmodelle auf den Computern Freiwilliger laufen.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/FirstRunWizard.cpp" line="72"/>
        <source>DeCLAI lends this computer to a community language-model network when you are not using it, and pays you credits you can spend on prompts. The defaults below are fine for most people.</source>
        <translation>DeCLAI leiht diesen Computer einem gemeinschaftlichen Sprachmodell-Netzwerk, wenn du ihn nicht benutzt, und zahlt dir dafür Credits, die du für Prompts ausgeben kannst. Die Vorgaben unten passen für die meisten.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/FirstRunWizard.cpp" line="79"/>
        <source>Server address</source>
        <translation>Serveradresse</translation>
    </message>
    <message>
        <location filename="../../app/desktop/FirstRunWizard.cpp" line="80"/>
        <source>&amp;Server address:</source>
        <translation>&amp;Serveradresse:</translation>
    </message>
    <message>
        <location filename="../../app/desktop/FirstRunWizard.cpp" line="82"/>
        <source>optional: the server&apos;s certificate file</source>
        <translation>optional: die Zertifikatsdatei des Servers</translation>
    </message>
    <message>
        <location filename="../../app/desktop/FirstRunWizard.cpp" line="83"/>
        <source>&amp;Certificate file:</source>
        <translation>&amp;Zertifikatsdatei:</translation>
    </message>
    <message>
        <location filename="../../app/desktop/FirstRunWizard.cpp" line="85"/>
        <source>optional: SHA256:… fingerprint</source>
        <translation>optional: SHA256:…-Fingerabdruck</translation>
    </message>
    <message>
        <location filename="../../app/desktop/FirstRunWizard.cpp" line="86"/>
        <source>or &amp;fingerprint:</source>
        <translation>oder &amp;Fingerabdruck:</translation>
    </message>
    <message>
        <location filename="../../app/desktop/FirstRunWizard.cpp" line="91"/>
        <source>Step 2 of 4 — Your account</source>
        <translation>Schritt 2 von 4 — Dein Konto</translation>
    </message>
    <message>
        <location filename="../../app/desktop/FirstRunWizard.cpp" line="92"/>
        <source>Credits this computer earns go to your account; the Prompt page spends them.</source>
        <translation>Die Credits, die dieser Computer verdient, gehen auf dein Konto; die Seite „Prompt“ gibt sie aus.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/FirstRunWizard.cpp" line="94"/>
        <source>&amp;Create a new account (recommended)</source>
        <translation>Neues Konto &amp;anlegen (empfohlen)</translation>
    </message>
    <message>
        <location filename="../../app/desktop/FirstRunWizard.cpp" line="95"/>
        <source>I &amp;have an account key:</source>
        <translation>Ich &amp;habe einen Kontoschlüssel:</translation>
    </message>
    <message>
        <location filename="../../app/desktop/FirstRunWizard.cpp" line="99"/>
        <source>Contribute &amp;without an account for now</source>
        <translation>Vorerst &amp;ohne Konto mitrechnen</translation>
    </message>
    <message>
        <location filename="../../app/desktop/FirstRunWizard.cpp" line="118"/>
        <source>This server does not offer self-registration yet. You can contribute without an account now and add a key later in Account &amp; settings.</source>
        <translation>Dieser Server bietet noch keine Selbstregistrierung an. Du kannst jetzt ohne Konto mitrechnen und später unter Konto &amp; Einstellungen einen Schlüssel eintragen.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/FirstRunWizard.cpp" line="122"/>
        <source>The account could not be created: %1</source>
        <translation>Das Konto konnte nicht angelegt werden: %1</translation>
    </message>
    <message>
        <location filename="../../app/desktop/FirstRunWizard.cpp" line="128"/>
        <source>Step 3 of 4 — What may DeCLAI use?</source>
        <translation>Schritt 3 von 4 — Was darf DeCLAI nutzen?</translation>
    </message>
    <message>
        <location filename="../../app/desktop/FirstRunWizard.cpp" line="129"/>
        <source>Tick the devices to contribute. A quick benchmark tells the server what this computer can do (optional, about ten seconds).</source>
        <translation>Hake die Geräte an, die mitrechnen sollen. Ein kurzer Leistungstest sagt dem Server, was dieser Computer kann (optional, etwa zehn Sekunden).</translation>
    </message>
    <message>
        <location filename="../../app/desktop/FirstRunWizard.cpp" line="133"/>
        <source>Devices</source>
        <translation>Geräte</translation>
    </message>
    <message>
        <location filename="../../app/desktop/FirstRunWizard.cpp" line="136"/>
        <source>Run a &amp;quick benchmark</source>
        <translation>&amp;Kurzen Leistungstest starten</translation>
    </message>
    <message>
        <location filename="../../app/desktop/FirstRunWizard.cpp" line="159"/>
        <source>CPU: %1 GFLOP/s, %2 GB/s</source>
        <translation>CPU: %1 GFLOP/s, %2 GB/s</translation>
    </message>
    <message>
        <location filename="../../app/desktop/FirstRunWizard.cpp" line="162"/>
        <source>Benchmark: %1</source>
        <translation>Leistungstest: %1</translation>
    </message>
    <message>
        <location filename="../../app/desktop/FirstRunWizard.cpp" line="168"/>
        <source>Step 4 of 4 — When may DeCLAI compute?</source>
        <translation>Schritt 4 von 4 — Wann darf DeCLAI rechnen?</translation>
    </message>
    <message>
        <location filename="../../app/desktop/FirstRunWizard.cpp" line="169"/>
        <source>You can draw an exact weekly schedule later on the Schedule page.</source>
        <translation>Einen genauen Wochenplan kannst du später auf der Seite „Zeitplan“ zeichnen.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/FirstRunWizard.cpp" line="174"/>
        <source>&amp;Whenever the computer is on (recommended) — pauses on battery and during full-screen apps</source>
        <translation>&amp;Immer, wenn der Computer an ist (empfohlen) — pausiert im Akkubetrieb und bei Vollbildanwendungen</translation>
    </message>
    <message>
        <location filename="../../app/desktop/FirstRunWizard.cpp" line="175"/>
        <source>Only when I am &amp;away (idle for 5 minutes)</source>
        <translation>Nur wenn ich &amp;weg bin (5 Minuten untätig)</translation>
    </message>
    <message>
        <location filename="../../app/desktop/FirstRunWizard.cpp" line="176"/>
        <source>&amp;Nights (19:00–08:00) and weekends</source>
        <translation>&amp;Nachts (19:00–08:00) und am Wochenende</translation>
    </message>
    <message>
        <location filename="../../app/desktop/FirstRunWizard.cpp" line="185"/>
        <source>Contributing starts when you press Finish. The tray icon shows what DeCLAI is doing; right-click it to snooze or pause.</source>
        <translation>Das Mitrechnen beginnt, wenn du auf Abschließen klickst. Das Symbol in der Systemleiste zeigt, was DeCLAI gerade tut; mit Rechtsklick kannst du schlummern oder pausieren.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/FirstRunWizard.cpp" line="201"/>
        <source>%1 (%2, %3)</source>
        <translation>%1 (%2, %3)</translation>
    </message>
    <message>
        <location filename="../../app/desktop/FirstRunWizard.cpp" line="204"/>
        <source>%1 (%2)</source>
        <translation>%1 (%2)</translation>
    </message>
    <message>
        <location filename="../../app/desktop/FirstRunWizard.cpp" line="209"/>
        <source>%1 — not usable here: %2</source>
        <translation>%1 — hier nicht nutzbar: %2</translation>
    </message>
    <message>
        <location filename="../../app/desktop/FirstRunWizard.cpp" line="215"/>
        <source>Looking for devices (CPU, OpenCL, Vulkan, CUDA, HIP)… The CPU is used unless you untick it.</source>
        <translation>Suche Geräte (CPU, OpenCL, Vulkan, CUDA, HIP) … Die CPU wird genutzt, außer du nimmst den Haken weg.</translation>
    </message>
</context>
<context>
    <name>declai::desktop::MainWindow</name>
    <message>
        <location filename="../../app/desktop/MainWindow.cpp" line="14"/>
        <source>DeCLAI</source>
        <translation>DeCLAI</translation>
    </message>
    <message>
        <location filename="../../app/desktop/MainWindow.cpp" line="43"/>
        <source>Pages</source>
        <translation>Seiten</translation>
    </message>
    <message>
        <location filename="../../app/desktop/MainWindow.cpp" line="69"/>
        <source>%1 (Ctrl+%2)</source>
        <translation>%1 (Strg+%2)</translation>
    </message>
    <message>
        <location filename="../../app/desktop/MainWindow.cpp" line="101"/>
        <source>Dismiss</source>
        <translation>Ausblenden</translation>
    </message>
</context>
<context>
    <name>declai::desktop::OverviewPage</name>
    <message>
        <location filename="../../app/desktop/OverviewPage.cpp" line="78"/>
        <source>&lt;h2&gt;Overview&lt;/h2&gt;</source>
        <translation>&lt;h2&gt;Übersicht&lt;/h2&gt;</translation>
    </message>
    <message>
        <location filename="../../app/desktop/OverviewPage.cpp" line="87"/>
        <source>Available credits</source>
        <translation>Verfügbare Credits</translation>
    </message>
    <message>
        <location filename="../../app/desktop/OverviewPage.cpp" line="88"/>
        <source>Held for running prompts</source>
        <translation>Reserviert für laufende Prompts</translation>
    </message>
    <message>
        <location filename="../../app/desktop/OverviewPage.cpp" line="89"/>
        <source>Pending verification</source>
        <translation>Warten auf Prüfung</translation>
    </message>
    <message>
        <location filename="../../app/desktop/OverviewPage.cpp" line="90"/>
        <source>Earned today</source>
        <translation>Heute verdient</translation>
    </message>
    <message>
        <location filename="../../app/desktop/OverviewPage.cpp" line="91"/>
        <source>Earned this week</source>
        <translation>Diese Woche verdient</translation>
    </message>
    <message>
        <location filename="../../app/desktop/OverviewPage.cpp" line="92"/>
        <source>Layer-tokens served</source>
        <translation>Berechnete Schicht-Token</translation>
    </message>
    <message>
        <location filename="../../app/desktop/OverviewPage.cpp" line="93"/>
        <source>Shards held</source>
        <translation>Gehaltene Modellteile</translation>
    </message>
    <message>
        <location filename="../../app/desktop/OverviewPage.cpp" line="94"/>
        <source>Load now</source>
        <translation>Auslastung jetzt</translation>
    </message>
    <message>
        <location filename="../../app/desktop/OverviewPage.cpp" line="102"/>
        <source>&lt;b&gt;Credits over time&lt;/b&gt;</source>
        <translation>&lt;b&gt;Credits im Verlauf&lt;/b&gt;</translation>
    </message>
    <message>
        <location filename="../../app/desktop/OverviewPage.cpp" line="106"/>
        <source>Last 24 hours</source>
        <translation>Letzte 24 Stunden</translation>
    </message>
    <message>
        <location filename="../../app/desktop/OverviewPage.cpp" line="107"/>
        <source>Last 7 days</source>
        <translation>Letzte 7 Tage</translation>
    </message>
    <message>
        <location filename="../../app/desktop/OverviewPage.cpp" line="108"/>
        <source>Last 30 days</source>
        <translation>Letzte 30 Tage</translation>
    </message>
    <message>
        <location filename="../../app/desktop/OverviewPage.cpp" line="109"/>
        <source>Chart range</source>
        <translation>Zeitraum des Diagramms</translation>
    </message>
    <message>
        <location filename="../../app/desktop/OverviewPage.cpp" line="113"/>
        <source>No credits yet. Credits appear here once work this computer did has been verified by the server.</source>
        <translation>Noch keine Credits. Sie erscheinen hier, sobald der Server die Arbeit dieses Computers geprüft hat.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/OverviewPage.cpp" line="122"/>
        <source>&lt;b&gt;Work per hour&lt;/b&gt; (layer-tokens, last 24 hours)</source>
        <translation>&lt;b&gt;Arbeit pro Stunde&lt;/b&gt; (Schicht-Token, letzte 24 Stunden)</translation>
    </message>
    <message>
        <location filename="../../app/desktop/OverviewPage.cpp" line="124"/>
        <location filename="../../app/desktop/OverviewPage.cpp" line="157"/>
        <source>No work yet — your node is waiting for the server to place a shard.</source>
        <translation>Noch keine Arbeit — dein Knoten wartet darauf, dass der Server ihm einen Modellteil gibt.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/OverviewPage.cpp" line="150"/>
        <source>none</source>
        <translation>keine</translation>
    </message>
    <message>
        <location filename="../../app/desktop/OverviewPage.cpp" line="151"/>
        <source>%1 (%2)</source>
        <translation>%1 (%2)</translation>
    </message>
    <message numerus="yes">
        <location filename="../../app/desktop/OverviewPage.cpp" line="153"/>
        <source>%1 tok/s · %n session(s)</source>
        <translation>
            <numerusform>%1 Token/s · %n Sitzung</numerusform>
            <numerusform>%1 Token/s · %n Sitzungen</numerusform>
        </translation>
    </message>
    <message>
        <location filename="../../app/desktop/OverviewPage.cpp" line="155"/>
        <source>idle</source>
        <translation>untätig</translation>
    </message>
    <message>
        <location filename="../../app/desktop/OverviewPage.cpp" line="159"/>
        <source>No work in the last 24 hours — contributing is paused or stopped.</source>
        <translation>Keine Arbeit in den letzten 24 Stunden — das Mitrechnen ist pausiert oder gestoppt.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/OverviewPage.cpp" line="161"/>
        <source>No work yet — your node holds its shard and waits for prompts to compute.</source>
        <translation>Noch keine Arbeit — dein Knoten hält seinen Modellteil und wartet auf Prompts.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/OverviewPage.cpp" line="206"/>
        <source>%1 microcredits (1 credit = 1,000,000)</source>
        <translation>%1 Mikrocredits (1 Credit = 1.000.000)</translation>
    </message>
    <message>
        <location filename="../../app/desktop/OverviewPage.cpp" line="223"/>
        <source>This server does not offer an account balance yet (/v1/credits), so credits cannot be shown. Your node still works and earns.</source>
        <translation>Dieser Server bietet noch keinen Kontostand an (/v1/credits), daher können keine Credits angezeigt werden. Dein Knoten arbeitet und verdient trotzdem.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/OverviewPage.cpp" line="227"/>
        <source>Sign in to an account (Account &amp; settings) to see your credits.</source>
        <translation>Melde dich mit einem Konto an (Konto &amp; Einstellungen), um deine Credits zu sehen.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/OverviewPage.cpp" line="230"/>
        <source>Credits could not be read: %1</source>
        <translation>Credits konnten nicht gelesen werden: %1</translation>
    </message>
    <message>
        <location filename="../../app/desktop/OverviewPage.cpp" line="293"/>
        <source>Layer-tokens</source>
        <translation>Schicht-Token</translation>
    </message>
</context>
<context>
    <name>declai::desktop::PromptPage</name>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="27"/>
        <source>&lt;h2&gt;Prompt&lt;/h2&gt;</source>
        <translation>&lt;h2&gt;Prompt&lt;/h2&gt;</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="30"/>
        <source>&amp;Model:</source>
        <translation>&amp;Modell:</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="33"/>
        <source>no models</source>
        <translation>keine Modelle</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="35"/>
        <source>&amp;Refresh</source>
        <translation>Ak&amp;tualisieren</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="36"/>
        <source>C&amp;hat (keep the conversation)</source>
        <translation>C&amp;hat (Unterhaltung fortführen)</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="51"/>
        <source>Answer</source>
        <translation>Antwort</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="52"/>
        <source>The answer streams here, token by token.</source>
        <translation>Die Antwort erscheint hier, Token für Token.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="55"/>
        <source>Prompt</source>
        <translation>Prompt</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="56"/>
        <source>Write a prompt, e.g. “Once upon a time” — Ctrl+Enter sends, Esc stops.</source>
        <translation>Schreibe einen Prompt, z. B. „Es war einmal“ — Strg+Eingabe sendet, Esc hält an.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="65"/>
        <source>Maximum tokens</source>
        <translation>Höchstzahl Token</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="70"/>
        <source>Temperature</source>
        <translation>Temperatur</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="75"/>
        <source>Top-p</source>
        <translation>Top-p</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="83"/>
        <source>Max &amp;tokens:</source>
        <translation>Max. To&amp;ken:</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="84"/>
        <source>T&amp;emperature:</source>
        <translation>T&amp;emperatur:</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="85"/>
        <source>Top-&amp;p:</source>
        <translation>Top-&amp;p:</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="93"/>
        <source>Cost quote</source>
        <translation>Kostenangebot</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="94"/>
        <source>&amp;Send</source>
        <translation>&amp;Senden</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="96"/>
        <source>S&amp;top</source>
        <translation>&amp;Halt</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="98"/>
        <source>&amp;New chat</source>
        <translation>&amp;Neuer Chat</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="111"/>
        <source>&lt;b&gt;History&lt;/b&gt;</source>
        <translation>&lt;b&gt;Verlauf&lt;/b&gt;</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="113"/>
        <source>When</source>
        <translation>Wann</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="113"/>
        <source>Model</source>
        <translation>Modell</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="113"/>
        <source>Tokens</source>
        <translation>Token</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="113"/>
        <source>Time</source>
        <translation>Dauer</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="113"/>
        <source>Cost</source>
        <translation>Kosten</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="115"/>
        <source>Prompt history</source>
        <translation>Prompt-Verlauf</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="161"/>
        <source>The server offers no models right now.</source>
        <translation>Der Server bietet gerade keine Modelle an.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="164"/>
        <source>Models could not be listed: %1</source>
        <translation>Modelle konnten nicht aufgelistet werden: %1</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="171"/>
        <source>This server gives no cost quote; you pay per token generated.</source>
        <translation>Dieser Server nennt vorab keine Kosten; du zahlst pro erzeugtem Token.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="174"/>
        <source>Sign in to an account (Account &amp; settings) to see what a prompt costs.</source>
        <translation>Melde dich mit einem Konto an (Konto &amp; Einstellungen), um zu sehen, was ein Prompt kostet.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="177"/>
        <source>No cost quote right now: %1</source>
        <translation>Gerade kein Kostenangebot: %1</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="198"/>
        <source>No server is set (Account &amp; settings).</source>
        <translation>Kein Server eingestellt (Konto &amp; Einstellungen).</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="230"/>
        <source>&lt;b&gt;Not enough credits:&lt;/b&gt; this prompt can cost up to %1 credits and your account has %2. Lower Max tokens, or let this computer contribute to earn more.</source>
        <translation>&lt;b&gt;Nicht genug Credits:&lt;/b&gt; Dieser Prompt kann bis zu %1 Credits kosten, dein Konto hat %2. Senke „Max. Token“ oder lass diesen Computer mitrechnen, um mehr zu verdienen.</translation>
    </message>
    <message numerus="yes">
        <location filename="../../app/desktop/PromptPage.cpp" line="235"/>
        <source>Costs at most &lt;b&gt;%1&lt;/b&gt; credits (%n prompt token(s)</source>
        <translation>
            <numerusform>Kostet höchstens &lt;b&gt;%1&lt;/b&gt; Credits (%n Prompt-Token</numerusform>
            <numerusform>Kostet höchstens &lt;b&gt;%1&lt;/b&gt; Credits (%n Prompt-Token</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location filename="../../app/desktop/PromptPage.cpp" line="236"/>
        <source> + up to %n new)</source>
        <translation>
            <numerusform> + bis zu %n neues)</numerusform>
            <numerusform> + bis zu %n neue)</numerusform>
        </translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="238"/>
        <source> · you have %1</source>
        <translation> · du hast %1</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="241"/>
        <source>The most this request can cost: %1 microcredits. You pay for the tokens actually generated; the rest is released when the answer ends.</source>
        <translation>Höchstens kostet diese Anfrage %1 Mikrocredits. Du zahlst nur die tatsächlich erzeugten Token; der Rest wird am Ende der Antwort freigegeben.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="249"/>
        <source>Not enough credits for this prompt (see the cost on the left).</source>
        <translation>Nicht genug Credits für diesen Prompt (siehe die Kosten links).</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="250"/>
        <source>Send (Ctrl+Enter)</source>
        <translation>Senden (Strg+Eingabe)</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="258"/>
        <source>Not sent: your account cannot pay for this prompt (see the cost next to Send).</source>
        <translation>Nicht gesendet: Dein Konto kann diesen Prompt nicht bezahlen (siehe die Kosten neben „Senden“).</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="262"/>
        <source>Pick a model first (Refresh lists what the server offers).</source>
        <translation>Wähle zuerst ein Modell („Aktualisieren“ listet, was der Server anbietet).</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="280"/>
        <source>You: </source>
        <translation>Du: </translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="291"/>
        <source>Waiting for the first token…</source>
        <translation>Warte auf das erste Token …</translation>
    </message>
    <message numerus="yes">
        <location filename="../../app/desktop/PromptPage.cpp" line="301"/>
        <source>Streaming… %n token(s)</source>
        <translation>
            <numerusform>Empfange … %n Token</numerusform>
            <numerusform>Empfange … %n Token</numerusform>
        </translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="306"/>
        <source>stopped</source>
        <translation>angehalten</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="306"/>
        <source>done</source>
        <translation>fertig</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="314"/>
        <source>this server does not offer chat completions yet (/v1/chat/completions)</source>
        <translation>dieser Server bietet noch keine Chat-Antworten an (/v1/chat/completions)</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="317"/>
        <source>not signed in or not enough credits: %1</source>
        <translation>nicht angemeldet oder nicht genug Credits: %1</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="323"/>
        <source>failed: %1</source>
        <translation>fehlgeschlagen: %1</translation>
    </message>
    <message numerus="yes">
        <location filename="../../app/desktop/PromptPage.cpp" line="343"/>
        <source>%1 — %n token(s) in %2 s</source>
        <translation>
            <numerusform>%1 — %n Token in %2 s</numerusform>
            <numerusform>%1 — %n Token in %2 s</numerusform>
        </translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="346"/>
        <source>, %1 credits</source>
        <translation>, %1 Credits</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="368"/>
        <source>%1 s</source>
        <translation>%1 s</translation>
    </message>
    <message>
        <location filename="../../app/desktop/PromptPage.cpp" line="369"/>
        <source>—</source>
        <translation>—</translation>
    </message>
</context>
<context>
    <name>declai::desktop::SchedulePage</name>
    <message>
        <location filename="../../app/desktop/SchedulePage.cpp" line="19"/>
        <source>&lt;h2&gt;When to contribute&lt;/h2&gt;</source>
        <translation>&lt;h2&gt;Wann mitrechnen&lt;/h2&gt;</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SchedulePage.cpp" line="22"/>
        <source>Coloured hours are when DeCLAI may use this computer. Drag across the grid to switch hours on or off; the rules below can pause it inside those hours.</source>
        <translation>In den farbigen Stunden darf DeCLAI diesen Computer nutzen. Ziehe über das Raster, um Stunden an- oder auszuschalten; die Regeln unten können auch innerhalb dieser Stunden pausieren.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SchedulePage.cpp" line="31"/>
        <source>&amp;Every hour</source>
        <translation>&amp;Jede Stunde</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SchedulePage.cpp" line="32"/>
        <source>&amp;Nights and weekends</source>
        <translation>&amp;Nachts und am Wochenende</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SchedulePage.cpp" line="33"/>
        <source>C&amp;lear all</source>
        <translation>A&amp;lles leeren</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SchedulePage.cpp" line="59"/>
        <source>Rules</source>
        <translation>Regeln</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SchedulePage.cpp" line="62"/>
        <source>Only when the computer has been &amp;idle for</source>
        <translation>Nur wenn der Computer &amp;untätig ist seit</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SchedulePage.cpp" line="65"/>
        <source> minutes</source>
        <translation> Minuten</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SchedulePage.cpp" line="66"/>
        <source>Idle minutes</source>
        <translation>Minuten untätig</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SchedulePage.cpp" line="71"/>
        <source>Pause while running on &amp;battery</source>
        <translation>Im &amp;Akkubetrieb pausieren</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SchedulePage.cpp" line="74"/>
        <source>Pause while a &amp;full-screen application runs (games, videos, presentations)</source>
        <translation>Pausieren, solange eine &amp;Vollbildanwendung läuft (Spiele, Videos, Präsentationen)</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SchedulePage.cpp" line="77"/>
        <source>&amp;CPU use at most</source>
        <translation>&amp;CPU-Nutzung höchstens</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SchedulePage.cpp" line="82"/>
        <source>CPU use at most, percent</source>
        <translation>CPU-Nutzung höchstens, Prozent</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SchedulePage.cpp" line="108"/>
        <location filename="../../app/desktop/SchedulePage.cpp" line="133"/>
        <source>%1 %</source>
        <translation>%1 %</translation>
    </message>
    <message numerus="yes">
        <location filename="../../app/desktop/SchedulePage.cpp" line="140"/>
        <source>%n hour(s) a week</source>
        <translation>
            <numerusform>%n Stunde pro Woche</numerusform>
            <numerusform>%n Stunden pro Woche</numerusform>
        </translation>
    </message>
    <message>
        <location filename="../../app/desktop/SchedulePage.cpp" line="153"/>
        <source>Now: paused — %1.</source>
        <translation>Jetzt: pausiert — %1.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SchedulePage.cpp" line="155"/>
        <source>Now: the rules allow contributing.</source>
        <translation>Jetzt: Die Regeln erlauben das Mitrechnen.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SchedulePage.cpp" line="164"/>
        <source>Not checked on this computer (it never pauses for this): %1</source>
        <translation>Auf diesem Computer nicht prüfbar (er pausiert dafür nie): %1</translation>
    </message>
</context>
<context>
    <name>declai::desktop::SettingsPage</name>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="26"/>
        <source>&lt;h2&gt;Account &amp;amp; settings&lt;/h2&gt;</source>
        <translation>&lt;h2&gt;Konto &amp;amp; Einstellungen&lt;/h2&gt;</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="32"/>
        <source>Server and account</source>
        <translation>Server und Konto</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="36"/>
        <source>&amp;Server address:</source>
        <translation>&amp;Serveradresse:</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="39"/>
        <source>system certificates</source>
        <translation>Zertifikate des Systems</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="40"/>
        <source>Bro&amp;wse…</source>
        <translation>Durch&amp;suchen …</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="43"/>
        <source>Certificate (CA file):</source>
        <translation>Zertifikat (CA-Datei):</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="46"/>
        <source>or &amp;pinned fingerprint:</source>
        <translation>oder &amp;fester Fingerabdruck:</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="49"/>
        <source>none: contribute without an account</source>
        <translation>keiner: ohne Konto mitrechnen</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="50"/>
        <source>Account &amp;key:</source>
        <translation>Konto&amp;schlüssel:</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="53"/>
        <source>This computer&apos;s identity</source>
        <translation>Identität dieses Computers</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="55"/>
        <source>shown once the engine has started</source>
        <translation>wird angezeigt, sobald die Engine läuft</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="57"/>
        <source>Fingerprint:</source>
        <translation>Fingerabdruck:</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="59"/>
        <source>&amp;Export identity…</source>
        <translation>Identität &amp;exportieren …</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="60"/>
        <source>&amp;Import identity…</source>
        <translation>Identität &amp;importieren …</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="67"/>
        <source>This app</source>
        <translation>Diese Anwendung</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="69"/>
        <source>Start DeCLAI when I log in (in the tray)</source>
        <translation>DeCLAI bei der Anmeldung starten (in der Systemleiste)</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="73"/>
        <source>Brow&amp;se…</source>
        <translation>Durchsu&amp;chen …</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="76"/>
        <source>Data folder:</source>
        <translation>Datenordner:</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="78"/>
        <source>Follow the system</source>
        <translation>Wie das System</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="79"/>
        <source>Light</source>
        <translation>Hell</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="80"/>
        <source>Dark</source>
        <translation>Dunkel</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="81"/>
        <source>&amp;Theme:</source>
        <translation>&amp;Farbschema:</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="82"/>
        <source>Show &amp;notifications (first credits, milestones, problems)</source>
        <translation>&amp;Benachrichtigungen zeigen (erste Credits, Meilensteine, Probleme)</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="89"/>
        <source>&amp;Apply</source>
        <translation>Ü&amp;bernehmen</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="95"/>
        <location filename="../../app/desktop/SettingsPage.cpp" line="113"/>
        <source>Log</source>
        <translation>Protokoll</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="99"/>
        <source>Filter…</source>
        <translation>Filter …</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="101"/>
        <source>Log filter</source>
        <translation>Protokollfilter</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="103"/>
        <source>Everything</source>
        <translation>Alles</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="104"/>
        <source>Information and up</source>
        <translation>Informationen und wichtiger</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="105"/>
        <source>Warnings and errors</source>
        <translation>Warnungen und Fehler</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="107"/>
        <source>Log level</source>
        <translation>Protokollstufe</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="122"/>
        <source>Server certificate</source>
        <translation>Serverzertifikat</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="123"/>
        <source>Certificates (*.crt *.pem *.der);;All files (*)</source>
        <translation>Zertifikate (*.crt *.pem *.der);;Alle Dateien (*)</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="128"/>
        <source>Data folder</source>
        <translation>Datenordner</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="134"/>
        <source>Export identity</source>
        <translation>Identität exportieren</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="135"/>
        <location filename="../../app/desktop/SettingsPage.cpp" line="141"/>
        <source>Key files (*.key);;All files (*)</source>
        <translation>Schlüsseldateien (*.key);;Alle Dateien (*)</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="140"/>
        <source>Import identity</source>
        <translation>Identität importieren</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="148"/>
        <source>Not applied: %1</source>
        <translation>Nicht übernommen: %1</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="151"/>
        <source>Applied.</source>
        <translation>Übernommen.</translation>
    </message>
    <message>
        <location filename="../../app/desktop/SettingsPage.cpp" line="158"/>
        <source>Start at login: %1</source>
        <translation>Start bei der Anmeldung: %1</translation>
    </message>
</context>
<context>
    <name>declai::desktop::TrayController</name>
    <message>
        <location filename="../../app/desktop/TrayController.cpp" line="16"/>
        <source>&amp;Snooze 1 hour</source>
        <translation>1 Stunde &amp;schlummern</translation>
    </message>
    <message>
        <location filename="../../app/desktop/TrayController.cpp" line="17"/>
        <source>&amp;Pause until resumed</source>
        <translation>&amp;Pausieren bis zum Fortsetzen</translation>
    </message>
    <message>
        <location filename="../../app/desktop/TrayController.cpp" line="18"/>
        <source>&amp;Resume</source>
        <translation>&amp;Fortsetzen</translation>
    </message>
    <message>
        <location filename="../../app/desktop/TrayController.cpp" line="20"/>
        <source>&amp;Open dashboard</source>
        <translation>Dashboard ö&amp;ffnen</translation>
    </message>
    <message>
        <location filename="../../app/desktop/TrayController.cpp" line="22"/>
        <source>&amp;Quit DeCLAI</source>
        <translation>DeCLAI &amp;beenden</translation>
    </message>
</context>
<context>
    <name>declai::desktop::WeeklyGridWidget</name>
    <message>
        <location filename="../../app/desktop/WeeklyGridWidget.cpp" line="19"/>
        <source>Weekly schedule</source>
        <translation>Wochenplan</translation>
    </message>
    <message>
        <location filename="../../app/desktop/WeeklyGridWidget.cpp" line="20"/>
        <source>Hours when DeCLAI may compute. Drag to switch hours on or off; arrows and Space from the keyboard.</source>
        <translation>Stunden, in denen DeCLAI rechnen darf. Ziehen schaltet Stunden an oder aus; mit der Tastatur Pfeiltasten und Leertaste.</translation>
    </message>
</context>
</TS>
